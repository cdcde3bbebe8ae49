//go:build tools

// Package tools records the commands build.sh builds, so go.mod and go.sum keep their dependencies.
package tools

import (
	_ "filippo.io/age/cmd/age"
	_ "filippo.io/age/cmd/age-keygen"
	_ "github.com/minio/minio"
)
