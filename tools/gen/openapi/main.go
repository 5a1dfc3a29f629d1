// Command openapi rewrites the OpenAPI documents protoc-gen-openapi writes
// (make gen-openapi) with what that generator cannot know: the problem+json
// error answers of platform/server, bearer security from each service's
// access policy (the auth.Policy in services/<svc>/internal/rpc), internal
// operations marked x-internal, and the protovalidate rules of the protos as
// schema constraints. It reads the protos from a buf image.
//
//	openapi -image api.binpb -services ../../services user.yaml order.yaml ...
//
// Each document's service is its file name (user.yaml: services/user). It
// then writes embed.go beside the documents, embedding each of them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate" // registers the buf.validate options, so the image's rules parse
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	image := fs.String("image", "", "buf image (buf build -o x.binpb) of the protos the documents come from")
	services := fs.String("services", "", "directory holding each service's module (<svc>/internal/rpc declares its auth.Policy)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *image == "" || *services == "" || fs.NArg() == 0 {
		return errors.New("usage: openapi -image IMAGE -services DIR DOC.yaml...")
	}
	files, err := readImage(*image)
	if err != nil {
		return err
	}
	for _, doc := range fs.Args() {
		svc := strings.TrimSuffix(filepath.Base(doc), filepath.Ext(doc))
		policy, err := ReadPolicy(filepath.Join(*services, svc, "internal", "rpc"))
		if err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		in, err := os.ReadFile(doc)
		if err != nil {
			return err
		}
		out, err := Rewrite(in, files, policy)
		if err != nil {
			return fmt.Errorf("%s: %w", doc, err)
		}
		if err := os.WriteFile(doc, out, 0o644); err != nil {
			return err
		}
	}
	return writeEmbed(fs.Args())
}

// readImage reads a buf image, which is wire-compatible with a
// FileDescriptorSet and holds every imported file too.
func readImage(path string) (*protoregistry.Files, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("read image %s: %w", path, err)
	}
	return protodesc.NewFiles(&set)
}
