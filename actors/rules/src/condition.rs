//! Sigma detection conditions: `selection and not filter`, `1 of selection_*`,
//! `all of them`, parentheses; parsed once into an expression over selection indices.

use std::fmt;

/// A parsed condition; `Selection(i)` is the i-th selection of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Selection(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    pub fn eval(&self, selected: &dyn Fn(usize) -> bool) -> bool {
        match self {
            Expr::Selection(i) => selected(*i),
            Expr::Not(e) => !e.eval(selected),
            Expr::And(es) => es.iter().all(|e| e.eval(selected)),
            Expr::Or(es) => es.iter().any(|e| e.eval(selected)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError(pub String);

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `text` against the rule's selection names (in their order).
pub fn parse(text: &str, selections: &[String]) -> Result<Expr, ConditionError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        selections,
    };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(t) => Err(ConditionError(format!("unexpected `{t}`"))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
            Token::Word(w) => f.write_str(w),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ConditionError> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    for c in text.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut tokens);
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c if c.is_alphanumeric() || c == '_' || c == '*' || c == '-' || c == '.' => {
                word.push(c);
            }
            c => return Err(ConditionError(format!("unexpected character `{c}`"))),
        }
    }
    flush(&mut word, &mut tokens);
    if tokens.is_empty() {
        return Err(ConditionError("empty condition".into()));
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    selections: &'a [String],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut terms = vec![self.and()?];
        while self.keyword("or") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut terms = vec![self.not()?];
        while self.keyword("and") {
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Result<Expr, ConditionError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ConditionError> {
        match self.next() {
            Some(Token::Open) => {
                let e = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(e),
                    _ => Err(ConditionError("missing `)`".into())),
                }
            }
            Some(Token::Word(w)) if w == "1" || w.eq_ignore_ascii_case("all") => {
                if !self.keyword("of") {
                    return Err(ConditionError(format!("`{w}` must be followed by `of`")));
                }
                let Some(Token::Word(pattern)) = self.next() else {
                    return Err(ConditionError(format!("`{w} of` needs a name or `them`")));
                };
                let matched = self.matching(&pattern)?;
                Ok(if w == "1" {
                    Expr::Or(matched)
                } else {
                    Expr::And(matched)
                })
            }
            Some(Token::Word(w)) => match self.selections.iter().position(|s| *s == w) {
                Some(i) => Ok(Expr::Selection(i)),
                None => Err(ConditionError(format!(
                    "`{w}` is not a selection of this rule"
                ))),
            },
            Some(Token::Close) => Err(ConditionError("unexpected `)`".into())),
            None => Err(ConditionError("condition ends too early".into())),
        }
    }

    /// The selections `pattern` names: `them`, an exact name, or a prefix ending in `*`.
    fn matching(&self, pattern: &str) -> Result<Vec<Expr>, ConditionError> {
        let matched: Vec<Expr> = self
            .selections
            .iter()
            .enumerate()
            .filter(|(_, s)| match pattern.strip_suffix('*') {
                _ if pattern == "them" => true,
                Some(prefix) => s.starts_with(prefix),
                None => *s == pattern,
            })
            .map(|(i, _)| Expr::Selection(i))
            .collect();
        if matched.is_empty() {
            return Err(ConditionError(format!("`{pattern}` names no selection")));
        }
        Ok(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["selection", "sel_a", "sel_b", "filter"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn conditions_evaluate_as_sigma_defines_them() {
        // (condition, which selections hold, expected)
        let cases: &[(&str, [bool; 4], bool)] = &[
            ("selection", [true, false, false, false], true),
            (
                "selection and not filter",
                [true, false, false, true],
                false,
            ),
            (
                "selection and not filter",
                [true, false, false, false],
                true,
            ),
            ("1 of sel_*", [false, false, true, false], true),
            ("all of sel_*", [false, true, false, false], false),
            ("all of sel_*", [false, true, true, false], true),
            ("all of them", [true, true, true, true], true),
            (
                "(sel_a or sel_b) and not filter",
                [false, true, false, true],
                false,
            ),
            (
                "sel_a or sel_b and filter",
                [true, true, false, false],
                true,
            ),
            ("not not selection", [true, false, false, false], true),
            ("SELECTION", [true, false, false, false], false),
        ];
        for (text, holds, want) in cases {
            match parse(text, &names()) {
                Ok(expr) => assert_eq!(expr.eval(&|i| holds[i]), *want, "{text}"),
                Err(e) => assert!(!want, "{text}: {e}"),
            }
        }
    }

    #[test]
    fn malformed_conditions_say_what_is_wrong() {
        let cases = [
            ("", "empty condition"),
            ("selection and", "condition ends too early"),
            ("(selection", "missing `)`"),
            ("selection)", "unexpected `)`"),
            ("nosuch", "`nosuch` is not a selection of this rule"),
            ("1 of x_*", "`x_*` names no selection"),
            ("all selection", "`all` must be followed by `of`"),
            ("selection | count() > 3", "unexpected character `|`"),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text, &names()),
                Err(ConditionError(want.into())),
                "{text}"
            );
        }
    }
}
