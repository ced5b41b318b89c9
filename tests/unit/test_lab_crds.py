"""Pure logic of the lab's CRD sourcing."""

from kmetal_lab import crds


def test_go_raw_strings_keep_spliced_backticks_inside_one_literal():
    source = 'var CRDs = map[string]string{\n"a": `kind: CustomResourceDefinition\ndescription: use ` + "`" + `kubectl` + "`" + ` here\n`,\n"b": `second`,\n}'
    assert crds._go_raw_strings(source) == ["kind: CustomResourceDefinition\ndescription: use `kubectl` here\n", "second"]


def test_clean_drops_server_owned_fields():
    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "x", "creationTimestamp": None}, "status": {"storedVersions": None}}
    assert crds._clean(crd) == {"kind": "CustomResourceDefinition", "metadata": {"name": "x"}}


def test_table_names_a_module_version_and_source_for_every_component():
    for entry in crds.table():
        assert entry["component"]
        assert entry.get("minimal") or (entry["module"] and entry["version"].startswith("v") and (entry.get("files") or entry.get("go_strings")))


def test_readme_shows_the_crd_table_as_it_is():
    """README.md renders lab/crds.yml (run `bin/lab crds` and paste between the crd-table markers)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("<!-- crd-table:start -->\n")[1].split("\n<!-- crd-table:end -->")[0]
    assert shown == crds.markdown_table()
