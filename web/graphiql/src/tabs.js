// The operations GraphiQL opens with, one tab each, on the topics the
// server declares typed events on (data-topics), else on orders.*.

/**
 * exampleTabs returns Follow, Publish and History on patterns: Follow
 * subscribes to all of them, Publish and History use a topic the first one
 * matches (its wildcards as "example", as the typed Publish tab does).
 */
export function exampleTabs(patterns) {
  const declared = Array.isArray(patterns) && patterns.length > 0;
  const topics = declared ? patterns : ['orders.*'];
  const topic = declared ? concreteTopic(topics[0]) : 'orders.eu';
  const list = topics.map((t) => JSON.stringify(t)).join(', ');
  return [
    {
      query: `# Every event is stored. With afterId, a
# subscription replays the events stored after
# that id, then follows live ones, each once.
#
# Run this (the ▶ button or Ctrl-Enter), then
# publish from the next tab: the event appears
# on the right, and in the Stream panel (the
# sidebar's Stream button) with every other.
# To resume later, pass the last id you saw as
# afterId.
subscription Follow {
  events(
    topics: [${list}]
    afterId: "00000000000000000000000000"
  ) {
    id
    topic
    type
    data
    time
  }
}
`,
    },
    {
      query: `# Append an event. Its id is a ULID: pass it
# as afterId to resume after it.
mutation Publish {
  publish(
    topic: ${JSON.stringify(topic)}
    type: "created"
    data: {id: 1, total: 9.5}
  ) {
    id
    time
  }
}
`,
    },
    {
      query: `# History, page by page (pass endCursor as
# after), and every topic.
query History {
  events(topic: ${JSON.stringify(topic)}, first: 10) {
    edges { cursor node { id type data time } }
    pageInfo { hasNextPage endCursor }
  }
  topics { name events firstId lastId }
}
`,
    },
  ];
}

/** concreteTopic is a topic pattern matches: each wildcard token becomes "example". */
export function concreteTopic(pattern) {
  return pattern
    .split('.')
    .map((t) => (t === '*' || t === '>' ? 'example' : t))
    .join('.');
}
