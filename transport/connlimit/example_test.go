package connlimit_test

import (
	"fmt"

	"github.com/rewind-dev/rewind/transport/connlimit"
)

// One limiter shared by the transports that hold connections open (pass
// it as gqlws.Config.Connections and sse.Config.Connections) counts their
// connections together.
func ExampleLimiter_Acquire() {
	limits := connlimit.New(connlimit.Config{PerAddress: 1})
	release, err := limits.Acquire("192.0.2.7")
	fmt.Println(err, limits.Open())

	_, err = limits.Acquire("192.0.2.7")
	fmt.Println(err)

	release()
	release() // a second release does nothing
	fmt.Println(limits.Open())
	// Output:
	// <nil> 1
	// too many connections from one address: 192.0.2.7 already has 1 open
	// 0
}
