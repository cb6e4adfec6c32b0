// The operations GraphiQL opens with, one tab each.
export const tabs = [
  {
    query: `# Every event is stored. With afterId, a
# subscription replays the events stored after
# that id, then follows live ones, each once.
#
# Run this (the ▶ button or Ctrl-Enter), then
# publish from the next tab: the event appears
# on the right. To resume later, pass the last
# id you saw as afterId.
subscription Follow {
  events(
    topics: ["orders.*"]
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
    topic: "orders.eu"
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
  events(topic: "orders.eu", first: 10) {
    edges { cursor node { id type data time } }
    pageInfo { hasNextPage endCursor }
  }
  topics { name events firstId lastId }
}
`,
  },
];
