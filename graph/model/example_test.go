package model_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/rewind-dev/rewind/graph/model"
)

// A page of history ends with PageInfo: EndCursor is the last edge's
// cursor, passed as after to read the next page, and is null (omitted) on
// an empty page. In a server, gqlgen renders these types from the
// resolvers' results; encoding/json shows the same field names here.
func ExamplePageInfo() {
	last := "01J00000000000000000000002"
	page := model.EventConnection{
		Edges: []*model.EventEdge{
			{Cursor: "01J00000000000000000000001"},
			{Cursor: last},
		},
		PageInfo: &model.PageInfo{HasNextPage: true, EndCursor: &last},
	}
	empty := model.EventConnection{Edges: []*model.EventEdge{}, PageInfo: &model.PageInfo{}}

	for _, c := range []model.EventConnection{page, empty} {
		b, err := json.Marshal(c.PageInfo)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(c.Edges), "edges:", string(b))
	}
	// Output:
	// 2 edges: {"hasNextPage":true,"endCursor":"01J00000000000000000000002"}
	// 0 edges: {"hasNextPage":false}
}
