//! Where in the source an error stands, for the errors whose path alone
//! does not point at the mistake.
//!
//! `hcl::Body`, which the decoders walk, keeps no positions. hcl-edit's
//! syntax tree (the parser under `hcl::parse`) does, so when such an error
//! occurs the source is parsed again with it and searched; a valid spec
//! never pays for the second parse.

use hcl::edit::expr::{Expression, TraversalOperator};
use hcl::edit::structure::{Body, Structure};
use hcl::edit::Span;

/// The line and column (one-based; the column counts characters) of the
/// first place `word` stands alone as a value: not inside a string
/// template, not the root of a dotted reference such as `meta.rack`.
pub(super) fn bare_word(src: &str, word: &str) -> Option<(usize, usize)> {
    let body = hcl::edit::parser::parse_body(src).ok()?;
    let offset = in_body(&body, word)?;
    Some(line_column(src, offset))
}

fn in_body(body: &Body, word: &str) -> Option<usize> {
    body.iter().find_map(|structure| match structure {
        Structure::Attribute(attr) => in_expr(&attr.value, word),
        Structure::Block(block) => in_body(&block.body, word),
    })
}

fn in_expr(expr: &Expression, word: &str) -> Option<usize> {
    match expr {
        Expression::Variable(var) if var.as_str() == word => var.span().map(|s| s.start),
        Expression::Array(items) => items.iter().find_map(|e| in_expr(e, word)),
        Expression::Object(object) => object
            .iter()
            .find_map(|(_, value)| in_expr(value.expr(), word)),
        Expression::Parenthesis(inner) => in_expr(inner.inner(), word),
        Expression::Conditional(c) => [&c.cond_expr, &c.true_expr, &c.false_expr]
            .into_iter()
            .find_map(|e| in_expr(e, word)),
        Expression::FuncCall(call) => call.args.iter().find_map(|e| in_expr(e, word)),
        Expression::UnaryOp(op) => in_expr(&op.expr, word),
        Expression::BinaryOp(op) => {
            in_expr(&op.lhs_expr, word).or_else(|| in_expr(&op.rhs_expr, word))
        }
        // The root of a traversal is a reference, not a bare word; only
        // index expressions can hold one.
        Expression::Traversal(t) => t.operators.iter().find_map(|op| match op.value() {
            TraversalOperator::Index(index) => in_expr(index, word),
            _ => None,
        }),
        _ => None,
    }
}

/// One-based line and character column of byte `offset` in `src`.
fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lone_words_only() {
        let src = "job \"x\" {\n  region = meta.rack\n  group \"g\" {\n    task \"t\" {\n      driver = raw_exec\n    }\n  }\n}\n";
        assert_eq!(bare_word(src, "raw_exec"), Some((5, 16)));
        // `meta` roots a reference; it is no bare word.
        assert_eq!(bare_word(src, "meta"), None);
        let src = "a = [\"ü\", (1 > 2 ? x : y)]\nb = \"${z}\"\n";
        assert_eq!(bare_word(src, "y"), Some((1, 24)));
        assert_eq!(bare_word(src, "z"), None, "inside a template");
        assert_eq!(bare_word("a = {", "a"), None, "not HCL");
    }
}
