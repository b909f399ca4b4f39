// Package testpb is the test service of package grpccache (middleware/grpc).
//
// The generated files are committed. To regenerate them, install protoc (Debian:
// apt-get install -y protobuf-compiler) and the plugins at the versions go.mod pins:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//
// then run go generate ./middleware/grpc/... with $(go env GOPATH)/bin on PATH.
package testpb

//go:generate protoc -I ../../../.. --go_out=../../../.. --go_opt=paths=source_relative --go-grpc_out=../../../.. --go-grpc_opt=paths=source_relative middleware/grpc/internal/testpb/test.proto
