//! Expected outputs are what Go's `text/template` prints for the same
//! template over the same data decoded into `interface{}` (reasoned from
//! the package documentation: missing map keys print `<no value>`, maps
//! range in sorted key order, `fmt.Print` shows lists as `[a b]`).

use serde_json::json;

use super::*;

fn data() -> Value {
    json!({
        "ID": "5c4b7bbd-7d3c-4e76-a1d0-6b55ee2b2a57",
        "Name": "web",
        "Count": 3,
        "Ratio": 0.5,
        "Empty": "",
        "Tags": ["a", "b"],
        "Meta": {"zone": "eu", "rack": "r1"},
        "Groups": [{"Name": "g1", "Count": 1}, {"Name": "g2", "Count": 2}],
        "Stop": false,
    })
}

#[track_caller]
fn check(src: &str, want: &str) {
    assert_eq!(
        render(src, &data()).as_deref(),
        Ok(want),
        "template {src:?}"
    );
}

#[track_caller]
fn check_err(src: &str, want: &str) {
    match render(src, &data()) {
        Ok(out) => panic!("template {src:?} rendered {out:?}, wanted error {want:?}"),
        Err(e) => assert_eq!(e.to_string(), want, "template {src:?}"),
    }
}

#[test]
fn fields_and_dot() {
    check("{{.Name}}", "web");
    check("x {{.Count}} y", "x 3 y");
    check("{{.Meta.zone}}", "eu");
    check("{{.Missing}}", "<no value>");
    check("{{.Meta.none}}", "<no value>");
    check("{{.Tags}}", "[a b]");
    check("{{.Meta}}", "map[rack:r1 zone:eu]");
    check("{{.Ratio}}", "0.5");
    check("{{.Stop}}", "false");
    check("{{ .Name }}", "web");
    check("{{$.Name}}", "web");
    check("no actions", "no actions");
}

#[test]
fn range_forms() {
    check("{{range .Tags}}[{{.}}]{{end}}", "[a][b]");
    check("{{range $i, $e := .Tags}}{{$i}}={{$e}} {{end}}", "0=a 1=b ");
    check("{{range $e := .Groups}}{{$e.Name}},{{end}}", "g1,g2,");
    check(
        "{{range $k, $v := .Meta}}{{$k}}:{{$v}};{{end}}",
        "rack:r1;zone:eu;",
    );
    check(
        "{{range .Groups}}{{.Name}}/{{$.Name}} {{end}}",
        "g1/web g2/web ",
    );
    check("{{range .Nothing}}x{{else}}none{{end}}", "none");
    check(
        "{{range .Groups}}{{if eq .Count 2}}{{.Name}}{{end}}{{end}}",
        "g2",
    );
}

#[test]
fn conditionals() {
    check("{{if .Name}}yes{{end}}", "yes");
    check("{{if .Empty}}yes{{else}}no{{end}}", "no");
    check("{{if .Stop}}a{{else if .Count}}b{{else}}c{{end}}", "b");
    check("{{if not .Stop}}go{{end}}", "go");
    check("{{if and .Name .Count}}both{{end}}", "both");
    check("{{with .Meta}}{{.zone}}{{end}}", "eu");
    check("{{with .Missing}}x{{else}}y{{end}}", "y");
    check("{{if gt .Count 2}}big{{end}}", "big");
}

#[test]
fn functions() {
    check(r#"{{printf "%s has %d" .Name .Count}}"#, "web has 3");
    check(r#"{{printf "%-5s|" .Name}}"#, "web  |");
    check(r#"{{printf "%5s|" .Name}}"#, "  web|");
    check(r#"{{printf "%03d" .Count}}"#, "003");
    check(r#"{{printf "%.2f" .Ratio}}"#, "0.50");
    check(r#"{{printf "%q" .Name}}"#, "\"web\"");
    check(r#"{{printf "%v" .Tags}}"#, "[a b]");
    check(r#"{{printf "%d" .Name}}"#, "%!d(string=web)");
    check(r#"{{printf "%s"}}"#, "%!s(MISSING)");
    check("{{len .Tags}}", "2");
    check("{{len .Name}}", "3");
    check("{{.Tags | len}}", "2");
    check(r#"{{index .Meta "zone"}}"#, "eu");
    check("{{index .Tags 1}}", "b");
    check("{{(index .Groups 1).Name}}", "g2");
    check("{{json .Tags}}", r#"["a","b"]"#);
    check(r#"{{print "a" 1 2 "b"}}"#, "a1 2b");
    check("{{$n := .Name}}{{$n}}", "web");
}

#[test]
fn trim_markers() {
    check("a  {{- .Name -}}  b", "awebb");
    check("{{range .Tags -}}\n  {{.}}\n{{- end}}", "ab");
    check("x {{/* note */}} y", "x  y");
    check("x {{- /* note */ -}} y", "xy");
    check("{{3 -}} < {{- 4}}", "3<4");
}

#[test]
fn errors_name_the_position() {
    check_err("{{.Name", "template: :1:1: unclosed action");
    check_err(
        "ab\ncd {{nope .X}}",
        "template: :2:6: function \"nope\" not defined",
    );
    check_err(
        "{{if .Name}}x",
        "template: :1:1: unexpected EOF: if without end",
    );
    check_err("{{end}}", "template: :1:1: unexpected {{end}}");
    check_err(
        "{{len 3}}",
        "template: :1:1: error calling len: len of type int",
    );
    check_err(
        "{{.Name.First}}",
        "template: :1:1: can't evaluate field First in type string",
    );
    check_err(
        "{{index .Tags 5}}",
        "template: :1:1: error calling index: index out of range: 5",
    );
    check_err("{{$x}}", "template: :1:1: undefined variable: $x");
    check_err("{{\"abc}}", "template: :1:3: unterminated quoted string");
    check_err("{{}}", "template: :1:1: missing value for command");
}

#[test]
fn odd_input_is_an_error_not_a_panic() {
    let nasty = [
        "{{",
        "}}",
        "{{-",
        "{{- -}}",
        "{{/*",
        "{{/* x",
        "{{ \"\\",
        "{{(",
        "{{)}}",
        "{{.A.}}",
        "{{$}}",
        "{{else}}",
        "{{range}}{{end}}",
        "{{if .Name}}{{else if}}{{end}}",
        "{{ é }}",
        "é{{.Name}}é",
        "{{printf}}",
        "{{index}}",
        "{{ 1.2.3 }}",
        "{{-3}}",
        "{{ - }}",
        "{{|}}",
        "{{.Name |}}",
        "{{$x := }}",
        "{{$x = 1}}",
        "{{range $a, $b, $c := .Tags}}{{end}}",
        "{{`raw",
        "{{len}}",
        "{{range 5000000}}{{end}}",
        "{{with}}{{end}}",
        "{{if 1}}{{else}}{{else}}{{end}}",
        "{{(len .Tags}}",
        "{{printf \"%",
        "{{printf \"%-\" 1}}",
        "{{printf \"%.\" 1}}",
    ];
    for src in nasty {
        let _ = render(src, &data());
    }
}
