// Package clienttest tests the Go client (module
// github.com/rewind-dev/rewind/client) against a real Rewind: in process
// behind a proxy that cuts connections, and as a process killed and
// restarted. It lives in the root module, not the client's, so that the
// client's module graph holds none of the server's dependencies.
package clienttest
