// Command imagebuild writes container images without a container engine: each one a go-containerregistry
// "tarball" (what `crane push TARBALL REF` and `ctr images import` read), tagged with its upstream reference.
//
// It reads a JSON list of specs on stdin and prints one JSON line per image with the digest a registry will
// hold for it once pushed (read back from the written tarball, so it is what `crane push` uploads).
// `imagebuild digest TARBALL REF` prints that digest for an existing tarball (the tests check the index with it).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type spec struct {
	Ref    string    `json:"ref"`
	Out    string    `json:"out"`
	Layers []string  `json:"layers"` // uncompressed tar files, lowest first; the same file gives the same layer
	Config v1.Config `json:"config"` // Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts, Labels
}

func build(s spec) (string, error) {
	tag, err := name.NewTag(s.Ref, name.StrictValidation)
	if err != nil {
		return "", err
	}
	cf, err := empty.Image.ConfigFile()
	if err != nil {
		return "", err
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err := mutate.ConfigFile(empty.Image, cf)
	if err != nil {
		return "", err
	}
	for _, path := range s.Layers {
		layer, err := tarball.LayerFromFile(path)
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", path, err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer}); err != nil {
			return "", err
		}
	}
	if img, err = mutate.Config(img, s.Config); err != nil {
		return "", err
	}
	tmp := s.Out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return "", err
	}
	digest, err := digestOf(tmp, s.Ref)
	if err != nil {
		return "", err
	}
	return digest, os.Rename(tmp, s.Out)
}

func digestOf(path, ref string) (string, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return "", err
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	return digest.String(), err
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "digest" {
		digest, err := digestOf(os.Args[2], os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagebuild:", err)
			os.Exit(1)
		}
		fmt.Println(digest)
		return
	}
	var specs []spec
	if err := json.NewDecoder(os.Stdin).Decode(&specs); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild: reading the specs on stdin:", err)
		os.Exit(2)
	}
	for _, s := range specs {
		digest, err := build(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "imagebuild: %s: %v\n", s.Ref, err)
			os.Exit(1)
		}
		line, _ := json.Marshal(map[string]string{"ref": s.Ref, "tarball": s.Out, "digest": digest})
		fmt.Println(string(line))
	}
}
