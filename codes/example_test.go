package codes_test

import (
	"errors"
	"fmt"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

// Of is the one place where an error becomes the extensions.code a client
// branches on. It looks through wrapping (errors.Is), so resolvers and
// transports may add context freely; an unexpected error has no code.
func ExampleOf() {
	for _, err := range []error{
		fmt.Errorf("after %q: %w", "01J00000000000000000000000", eventstore.ErrCursorNotFound),
		fmt.Errorf("append: %w", eventstore.ErrPayloadTooLarge),
		fmt.Errorf("subscription: %w", replay.ErrSlowConsumer),
		fmt.Errorf("topic orders.us: %w", auth.ErrForbidden),
		errors.New("something else"),
	} {
		fmt.Printf("%q\n", codes.Of(err))
	}
	// Output:
	// "CURSOR_NOT_FOUND"
	// "PAYLOAD_TOO_LARGE"
	// "SLOW_CONSUMER"
	// "FORBIDDEN"
	// ""
}
