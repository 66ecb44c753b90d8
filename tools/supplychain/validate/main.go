// Command validate checks CycloneDX JSON SBOMs against the CycloneDX JSON
// schema of their specVersion, taken from the cyclonedx-go module (the
// library cyclonedx-gomod writes them with).
//
//	go run ./validate <schema dir> <sbom.json>...
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: validate <schema dir> <sbom.json>...")
		os.Exit(2)
	}
	failed := false
	for _, f := range os.Args[2:] {
		if err := validate(os.Args[1], f); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid\n", f)
	}
	if failed {
		os.Exit(1)
	}
}

func validate(schemaDir, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	var head struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.BOMFormat != "CycloneDX" {
		return fmt.Errorf("not a CycloneDX BOM (bomFormat %q)", head.BOMFormat)
	}
	c := jsonschema.NewCompiler()
	// The schema's $refs name its sibling files (spdx, jsf) by file name.
	entries, err := os.ReadDir(schemaDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		// jsf-0.82.schemax.json is what bom-*.schema.json refers to as jsf-0.82.schema.json.
		name := strings.Replace(e.Name(), ".schemax.json", ".schema.json", 1)
		if !strings.HasSuffix(name, ".schema.json") {
			continue
		}
		f, err := os.Open(filepath.Join(schemaDir, e.Name()))
		if err != nil {
			return err
		}
		s, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("schema %s: %w", e.Name(), err)
		}
		var id struct {
			ID string `json:"$id"`
		}
		b, _ := os.ReadFile(filepath.Join(schemaDir, e.Name()))
		_ = json.Unmarshal(b, &id)
		if err := c.AddResource("file:///"+name, s); err != nil {
			return fmt.Errorf("schema %s: %w", e.Name(), err)
		}
		// Refs by $id too; the strict variants share their base's $id.
		if id.ID != "" && !strings.Contains(e.Name(), "strict") {
			if err := c.AddResource(id.ID, s); err != nil {
				return fmt.Errorf("schema %s: %w", e.Name(), err)
			}
		}
	}
	sch, err := c.Compile("file:///bom-" + head.SpecVersion + ".schema.json")
	if err != nil {
		return fmt.Errorf("schema of specVersion %q: %w", head.SpecVersion, err)
	}
	return sch.Validate(doc)
}
