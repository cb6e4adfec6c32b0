// Package install tests the README's recipes for using Rewind from a
// project of one's own ("Use it from your project"): a Go module outside
// this repository that depends on both of its modules through a workspace,
// through replace directives, and through released tags (made by
// scripts/release on a copy of the repository), each building the README's
// program and running it against a real server. The npm recipe is tested
// in clients/js.
package install
