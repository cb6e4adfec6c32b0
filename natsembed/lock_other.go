//go:build !unix

package natsembed

import (
	"fmt"
	"os"
)

// lockDir only creates dir where advisory locks are not available.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded nats: data dir: %w", err)
	}
	return func() {}, nil
}
