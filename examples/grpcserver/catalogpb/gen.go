// Package catalogpb is the catalogue service of examples/grpcserver.
//
// The generated files are committed. To regenerate them, install protoc (Debian:
// apt-get install -y protobuf-compiler) and the plugins at the versions go.mod pins:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//
// then run go generate ./examples/grpcserver/... with $(go env GOPATH)/bin on PATH.
package catalogpb

//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative examples/grpcserver/catalogpb/catalog.proto
