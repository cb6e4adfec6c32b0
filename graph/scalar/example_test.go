package scalar_test

import (
	"fmt"
	"log"
	"os"

	"github.com/rewind-dev/rewind/graph/scalar"
)

// An event's data leaves as the bytes that were stored, not re-encoded, and
// an absent value is null.
func ExampleMarshalJSON() {
	scalar.MarshalJSON([]byte(`{"id": 1, "items": ["a"]}`)).MarshalGQL(os.Stdout)
	fmt.Println()
	scalar.MarshalJSON(nil).MarshalGQL(os.Stdout)
	fmt.Println()
	// Output:
	// {"id": 1, "items": ["a"]}
	// null
}

// A JSON argument arrives from gqlgen already decoded (from the query's text
// or its variables); UnmarshalJSON encodes it for storage. A string that is
// not valid UTF-8 is refused rather than silently altered.
func ExampleUnmarshalJSON() {
	data, err := scalar.UnmarshalJSON(map[string]any{"id": 1, "items": []any{"a"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(data))

	_, err = scalar.UnmarshalJSON("\xff")
	fmt.Println(err != nil)
	// Output:
	// {"id":1,"items":["a"]}
	// true
}
