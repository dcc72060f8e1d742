//! The PromQL lexer: turns a query string into tokens, the way upstream's
//! `promql/parser/lex.go` does. It is a small state machine that knows only
//! whether it is inside `{...}` or `[...]` (where `:` and `=~` mean different
//! things); it knows nothing about the grammar. Errors become an `Error`
//! token that ends the stream, so the parser reports them where it meets them
//! (a syntax error earlier in the query wins, as upstream).

use super::ast::AggOp;

/// What a token is. Keywords keep their written text in `Token::text`
/// (upstream matches keywords case-insensitively but prints them as written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Eof,
    /// A lexing error; the message is in `Lexer::error_message`.
    Error,
    Identifier,
    /// An identifier containing `:` (only valid as a metric name).
    MetricIdentifier,
    Number,
    Duration,
    String,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    Comma,
    /// `=`
    Eql,
    Colon,
    // Operators.
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `==`
    Eqlc,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    EqlRegex,
    NeqRegex,
    /// `</` and `>/`: upstream's native-histogram trim operators.
    TrimUpper,
    TrimLower,
    At,
    Land,
    Lor,
    Lunless,
    Atan2,
    Aggregator(AggOp),
    Keyword(Keyword),
}

/// Upstream's keywords (matched case-insensitively).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    Bool,
    By,
    GroupLeft,
    GroupRight,
    Ignoring,
    Offset,
    On,
    Without,
    Start,
    End,
    Step,
    Range,
    Anchored,
    Smoothed,
    Fill,
    FillLeft,
    FillRight,
}

impl TokenKind {
    pub fn is_operator(self) -> bool {
        matches!(
            self,
            TokenKind::Add
                | TokenKind::Sub
                | TokenKind::Mul
                | TokenKind::Div
                | TokenKind::Mod
                | TokenKind::Pow
                | TokenKind::Eqlc
                | TokenKind::Neq
                | TokenKind::Lss
                | TokenKind::Lte
                | TokenKind::Gtr
                | TokenKind::Gte
                | TokenKind::EqlRegex
                | TokenKind::NeqRegex
                | TokenKind::TrimUpper
                | TokenKind::TrimLower
                | TokenKind::At
                | TokenKind::Land
                | TokenKind::Lor
                | TokenKind::Lunless
                | TokenKind::Atan2
        )
    }

    /// Upstream's fixed spelling of punctuation tokens (`ItemTypeStr`).
    fn fixed_str(self) -> Option<&'static str> {
        Some(match self {
            TokenKind::LeftParen => "(",
            TokenKind::RightParen => ")",
            TokenKind::LeftBrace => "{",
            TokenKind::RightBrace => "}",
            TokenKind::LeftBracket => "[",
            TokenKind::RightBracket => "]",
            TokenKind::Comma => ",",
            TokenKind::Eql => "=",
            TokenKind::Colon => ":",
            _ => return None,
        })
    }
}

/// One token: its kind and byte range in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        input.get(self.start..self.end).unwrap_or("")
    }

    /// How upstream names a token in "unexpected ..." messages (`Item.desc()`).
    pub fn describe(&self, input: &str) -> String {
        let text = self.text(input);
        match self.kind {
            TokenKind::Eof => "end of input".to_string(),
            TokenKind::Error => text.to_string(),
            TokenKind::Identifier => format!("identifier {}", go_quote_str(text)),
            TokenKind::MetricIdentifier => format!("metric identifier {}", go_quote_str(text)),
            TokenKind::Number => format!("number {}", quote_truncated(text)),
            TokenKind::Duration => format!("duration {}", quote_truncated(text)),
            TokenKind::String => format!("string {}", quote_truncated(text)),
            TokenKind::Keyword(_) => format!("<{text}>"),
            TokenKind::Aggregator(_) => format!("<aggr:{text}>"),
            k if k.is_operator() => format!("<op:{text}>"),
            k => go_quote_str(k.fixed_str().unwrap_or(text)),
        }
    }
}

/// Go's `%q` of a string.
fn go_quote_str(s: &str) -> String {
    crate::model::labels::go_quote(s)
}

/// Go's `%.10q...` for long token values, `%q` otherwise.
fn quote_truncated(s: &str) -> String {
    if s.chars().count() > 10 {
        let short: String = s.chars().take(10).collect();
        format!("{}...", go_quote_str(&short))
    } else {
        go_quote_str(s)
    }
}

/// Go's `%q` of a rune.
pub fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '\\' => "'\\\\'".to_string(),
        '\n' => "'\\n'".to_string(),
        '\r' => "'\\r'".to_string(),
        '\t' => "'\\t'".to_string(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

fn keyword(word: &str) -> Option<TokenKind> {
    // Keywords are at most 12 bytes ("count_values"); lowercase on the stack.
    let mut buf = [0u8; 12];
    let bytes = word.as_bytes();
    let lower = buf.get_mut(..bytes.len())?;
    lower.copy_from_slice(bytes);
    lower.make_ascii_lowercase();
    let lower = std::str::from_utf8(lower).ok()?;
    Some(match lower {
        "and" => TokenKind::Land,
        "or" => TokenKind::Lor,
        "unless" => TokenKind::Lunless,
        "atan2" => TokenKind::Atan2,
        "sum" => TokenKind::Aggregator(AggOp::Sum),
        "avg" => TokenKind::Aggregator(AggOp::Avg),
        "count" => TokenKind::Aggregator(AggOp::Count),
        "min" => TokenKind::Aggregator(AggOp::Min),
        "max" => TokenKind::Aggregator(AggOp::Max),
        "group" => TokenKind::Aggregator(AggOp::Group),
        "stddev" => TokenKind::Aggregator(AggOp::Stddev),
        "stdvar" => TokenKind::Aggregator(AggOp::Stdvar),
        "topk" => TokenKind::Aggregator(AggOp::Topk),
        "bottomk" => TokenKind::Aggregator(AggOp::Bottomk),
        "count_values" => TokenKind::Aggregator(AggOp::CountValues),
        "quantile" => TokenKind::Aggregator(AggOp::Quantile),
        "limitk" => TokenKind::Aggregator(AggOp::Limitk),
        "limit_ratio" => TokenKind::Aggregator(AggOp::LimitRatio),
        "offset" => TokenKind::Keyword(Keyword::Offset),
        "by" => TokenKind::Keyword(Keyword::By),
        "without" => TokenKind::Keyword(Keyword::Without),
        "on" => TokenKind::Keyword(Keyword::On),
        "ignoring" => TokenKind::Keyword(Keyword::Ignoring),
        "group_left" => TokenKind::Keyword(Keyword::GroupLeft),
        "group_right" => TokenKind::Keyword(Keyword::GroupRight),
        "bool" => TokenKind::Keyword(Keyword::Bool),
        "start" => TokenKind::Keyword(Keyword::Start),
        "end" => TokenKind::Keyword(Keyword::End),
        "step" => TokenKind::Keyword(Keyword::Step),
        "range" => TokenKind::Keyword(Keyword::Range),
        "anchored" => TokenKind::Keyword(Keyword::Anchored),
        "smoothed" => TokenKind::Keyword(Keyword::Smoothed),
        "fill" => TokenKind::Keyword(Keyword::Fill),
        "fill_left" => TokenKind::Keyword(Keyword::FillLeft),
        "fill_right" => TokenKind::Keyword(Keyword::FillRight),
        "inf" | "nan" => TokenKind::Number,
        _ => return None,
    })
}

pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alphanumeric(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// The lexer over one query string.
pub struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    paren_depth: i32,
    brace_open: bool,
    bracket_open: bool,
    /// Set when an `Error` token was produced; the message for it.
    pub error_message: Option<String>,
    done: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a str) -> Lexer<'a> {
        Lexer {
            input,
            pos: 0,
            paren_depth: 0,
            brace_open: false,
            bracket_open: false,
            error_message: None,
            done: false,
        }
    }

    /// Lexes the whole input. The last token is `Eof` or `Error`; comments
    /// are dropped because the grammar ignores them.
    pub fn tokenize(mut self) -> (Vec<Token>, Option<String>) {
        let mut tokens = Vec::new();
        while !self.done {
            if let Some(t) = self.next_token() {
                tokens.push(t);
            }
        }
        (tokens, self.error_message)
    }

    fn peek(&self) -> Option<char> {
        self.input.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.input
            .get(self.pos..)
            .and_then(|s| s.chars().nth(offset))
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn token(&self, kind: TokenKind, start: usize) -> Option<Token> {
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }

    fn error(&mut self, start: usize, msg: String) -> Option<Token> {
        self.error_message = Some(msg);
        self.done = true;
        Some(Token {
            kind: TokenKind::Error,
            start,
            end: self.input.len(),
        })
    }

    /// Produces the next token, or `None` for skipped input (space, comments).
    fn next_token(&mut self) -> Option<Token> {
        if self.brace_open {
            return self.lex_inside_braces();
        }
        if self.bracket_open {
            if let Some(t) = self.reject_in_brackets() {
                return Some(t);
            }
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            if self.bracket_open {
                return self.error(
                    start,
                    "unexpected end of input in duration expression".to_string(),
                );
            }
            if self.paren_depth != 0 {
                return self.error(start, "unclosed left parenthesis".to_string());
            }
            self.done = true;
            return self.token(TokenKind::Eof, start);
        };
        match c {
            '#' => {
                self.skip_comment();
                None
            }
            c if is_space(c) => None,
            ',' => self.token(TokenKind::Comma, start),
            '*' => self.token(TokenKind::Mul, start),
            '/' => self.token(TokenKind::Div, start),
            '%' => self.token(TokenKind::Mod, start),
            '+' => self.token(TokenKind::Add, start),
            '-' => self.token(TokenKind::Sub, start),
            '^' => self.token(TokenKind::Pow, start),
            '@' => self.token(TokenKind::At, start),
            '=' => match self.peek() {
                Some('=') => {
                    self.pos += 1;
                    self.token(TokenKind::Eqlc, start)
                }
                Some('~') => self.error(start, "unexpected character after '=': '~'".to_string()),
                _ => self.token(TokenKind::Eql, start),
            },
            '!' => match self.bump() {
                Some('=') => self.token(TokenKind::Neq, start),
                other => {
                    let q = other.map(go_quote_rune).unwrap_or_else(|| "EOF".into());
                    self.error(start, format!("unexpected character after '!': {q}"))
                }
            },
            '<' => {
                if self.accept("/") {
                    self.token(TokenKind::TrimUpper, start)
                } else if self.accept("=") {
                    self.token(TokenKind::Lte, start)
                } else {
                    self.token(TokenKind::Lss, start)
                }
            }
            '>' => {
                if self.accept("/") {
                    self.token(TokenKind::TrimLower, start)
                } else if self.accept("=") {
                    self.token(TokenKind::Gte, start)
                } else {
                    self.token(TokenKind::Gtr, start)
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos = start;
                self.lex_number_or_duration(start)
            }
            '"' | '\'' => self.lex_string(start, c),
            '`' => self.lex_raw_string(start),
            ':' if self.bracket_open => self.token(TokenKind::Colon, start),
            c if is_alpha(c) || c == ':' => self.lex_keyword_or_identifier(start),
            '(' => {
                self.paren_depth += 1;
                self.token(TokenKind::LeftParen, start)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Upstream emits the `)` first, so the error points after it.
                    return self.error(self.pos, "unexpected right parenthesis ')'".to_string());
                }
                self.token(TokenKind::RightParen, start)
            }
            '{' => {
                self.brace_open = true;
                self.token(TokenKind::LeftBrace, start)
            }
            '[' => {
                if self.bracket_open {
                    return self.error(start, "unexpected left bracket '['".to_string());
                }
                self.bracket_open = true;
                self.token(TokenKind::LeftBracket, start)
            }
            ']' => {
                if !self.bracket_open {
                    return self.error(start, "unexpected right bracket ']'".to_string());
                }
                self.bracket_open = false;
                self.token(TokenKind::RightBracket, start)
            }
            c => self.error(start, format!("unexpected character: {}", go_quote_rune(c))),
        }
    }

    /// Inside `[...]` only a duration expression may appear (upstream's
    /// `lexDurationExpr`); anything else is an error right away.
    fn reject_in_brackets(&mut self) -> Option<Token> {
        let c = self.peek()?;
        let allowed = c.is_ascii_alphanumeric()
            || c == '_'
            || c == '.'
            || is_space(c)
            || "[]:()+-*/%^,".contains(c);
        if allowed {
            return None;
        }
        let start = self.pos;
        self.pos += c.len_utf8();
        self.error(
            start,
            format!(
                "unexpected character in duration expression: {}",
                go_quote_rune(c)
            ),
        )
    }

    fn lex_inside_braces(&mut self) -> Option<Token> {
        let start = self.pos;
        let Some(c) = self.bump() else {
            return self.error(start, "unexpected end of input inside braces".to_string());
        };
        match c {
            '#' => {
                self.skip_comment();
                None
            }
            c if is_space(c) => None,
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alphanumeric) {
                    self.pos += 1;
                }
                self.token(TokenKind::Identifier, start)
            }
            ',' => self.token(TokenKind::Comma, start),
            '"' | '\'' => self.lex_string(start, c),
            '`' => self.lex_raw_string(start),
            '=' => {
                if self.accept("~") {
                    self.token(TokenKind::EqlRegex, start)
                } else {
                    self.token(TokenKind::Eql, start)
                }
            }
            '!' => match self.bump() {
                Some('~') => self.token(TokenKind::NeqRegex, start),
                Some('=') => self.token(TokenKind::Neq, start),
                other => {
                    let q = other.map(go_quote_rune).unwrap_or_else(|| "EOF".into());
                    self.error(
                        start,
                        format!("unexpected character after '!' inside braces: {q}"),
                    )
                }
            },
            '{' => self.error(start, "unexpected left brace '{'".to_string()),
            '}' => {
                self.brace_open = false;
                self.token(TokenKind::RightBrace, start)
            }
            c => self.error(
                start,
                format!("unexpected character inside braces: {}", go_quote_rune(c)),
            ),
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn lex_keyword_or_identifier(&mut self, start: usize) -> Option<Token> {
        while self
            .peek()
            .is_some_and(|c| is_alphanumeric(c) || (c == ':' && !self.bracket_open))
        {
            self.pos += 1;
        }
        let word = self.input.get(start..self.pos).unwrap_or("");
        if self.bracket_open {
            // Inside `[...]` only the duration functions are words.
            let lower = word.to_ascii_lowercase();
            if !matches!(lower.as_str(), "step" | "range") && word != "min_of" && word != "max_of" {
                let c = word.chars().next().unwrap_or(' ');
                return self.error(
                    start,
                    format!("unexpected character: {}, expected ':'", go_quote_rune(c)),
                );
            }
        }
        let kind = match keyword(word) {
            Some(k) => k,
            None if word.contains(':') => TokenKind::MetricIdentifier,
            None => TokenKind::Identifier,
        };
        self.token(kind, start)
    }

    fn is(&self, valid: &str) -> bool {
        self.peek().is_some_and(|c| valid.contains(c))
    }

    /// Scans a number as upstream's `scanNumber`: decimal, hex, `.5`,
    /// exponents and `_` digit separators. False if it runs into letters
    /// (then it may be a duration) or into a malformed number.
    fn scan_number(&mut self) -> bool {
        const DOT: &str = ".";
        const EXP: &str = "eE";
        const UNDERSCORE: &str = "_";
        const DOT_ANTI: &str = "_.";
        const EXP_ANTI: &str = "._eE";
        const UNDERSCORE_ANTI: &str = "._eE";
        let initial = self.pos;
        let mut digits = "0123456789";
        if self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
        }
        self.accept(DOT);
        self.accept(digits);
        let mut dot_consumed = false;
        let mut exp_consumed = false;
        let all: String = [digits, DOT, UNDERSCORE, EXP].concat();
        while self.is(&all) {
            if self.is(DOT) && dot_consumed {
                self.accept(DOT);
                return false;
            }
            // In hex, e/E are digits, not exponents.
            if digits.len() == 10 && self.is(EXP) && exp_consumed {
                self.accept(EXP);
                return false;
            }
            if self.accept(DOT) {
                dot_consumed = true;
                if self.accept(DOT_ANTI) {
                    return false;
                }
                if digits.len() > 10 {
                    return false;
                }
                continue;
            }
            if digits.len() == 10 && self.accept(EXP) {
                exp_consumed = true;
                self.accept("+-");
                if self.accept(EXP_ANTI) || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept(UNDERSCORE) {
                if self.accept(UNDERSCORE_ANTI) || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alphanumeric)
    }

    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            self.accept_run("0123456789");
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        // Upstream consumes the character after the duration; it stays in
        // the error text when it is alphanumeric.
        let before = self.pos;
        if self.bump().is_some_and(is_alphanumeric) {
            return false;
        }
        self.pos = before;
        true
    }

    fn lex_number_or_duration(&mut self, start: usize) -> Option<Token> {
        if self.scan_number() {
            return self.token(TokenKind::Number, start);
        }
        if self.accept_remaining_duration() {
            return self.token(TokenKind::Duration, start);
        }
        let text = self.input.get(start..self.pos).unwrap_or("").to_string();
        self.error(
            start,
            format!("bad number or duration syntax: {}", go_quote_str(&text)),
        )
    }

    fn lex_string(&mut self, start: usize, quote: char) -> Option<Token> {
        loop {
            match self.bump() {
                Some('\\') => {
                    if let Err(msg) = self.lex_escape(quote) {
                        return self.error(start, msg);
                    }
                }
                None | Some('\n') => {
                    return self.error(start, "unterminated quoted string".to_string())
                }
                Some(c) if c == quote => return self.token(TokenKind::String, start),
                Some(_) => {}
            }
        }
    }

    fn lex_escape(&mut self, quote: char) -> Result<(), String> {
        let Some(c) = self.bump() else {
            return Err("escape sequence not terminated".to_string());
        };
        let (n, base, max) = match c {
            'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' => return Ok(()),
            c if c == quote => return Ok(()),
            '0'..='7' => {
                // The first octal digit is already consumed.
                self.pos -= 1;
                (3, 8, 255)
            }
            'x' => (2, 16, 255),
            'u' => (4, 16, 0x10FFFF),
            'U' => (8, 16, 0x10FFFF),
            '\n' => return Err("escape sequence not terminated".to_string()),
            c => return Err(format!("unknown escape sequence U+{:04X} '{c}'", c as u32)),
        };
        let mut x: u32 = 0;
        for _ in 0..n {
            let Some(d) = self.bump() else {
                return Err("escape sequence not terminated".to_string());
            };
            let Some(v) = d.to_digit(base) else {
                return Err(format!(
                    "illegal character U+{:04X} '{d}' in escape sequence",
                    d as u32
                ));
            };
            x = x * base + v;
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err("escape sequence is an invalid Unicode code point".to_string());
        }
        Ok(())
    }

    fn lex_raw_string(&mut self, start: usize) -> Option<Token> {
        loop {
            match self.bump() {
                None => return self.error(start, "unterminated raw string".to_string()),
                Some('`') => return self.token(TokenKind::String, start),
                Some(_) => {}
            }
        }
    }

    /// Whether the next two characters are `{{` (a native histogram literal).
    pub fn at_histogram_open(&self) -> bool {
        self.peek() == Some('{') && self.peek_at(1) == Some('{')
    }
}

/// Unquotes a string token's text (with its quotes) as Go's `strconv.Unquote`,
/// after the lexer has validated the escapes.
pub fn unquote(text: &str) -> Result<String, String> {
    let mut chars = text.chars();
    let quote = chars.next().ok_or_else(|| "invalid syntax".to_string())?;
    if !text.ends_with(quote) || text.len() < 2 {
        return Err("invalid syntax".to_string());
    }
    let body = &text[quote.len_utf8()..text.len() - quote.len_utf8()];
    if quote == '`' {
        return Ok(body.replace('\r', ""));
    }
    let mut out = String::with_capacity(body.len());
    let mut bytes: Vec<u8> = Vec::new();
    let mut it = body.chars().peekable();
    // Escapes like `\xff` produce raw bytes; collect bytes and validate UTF-8 at the end.
    let flush = |out: &mut String, bytes: &mut Vec<u8>| -> Result<(), String> {
        if !bytes.is_empty() {
            let s = String::from_utf8(std::mem::take(bytes))
                .map_err(|_| "invalid UTF-8 in escape sequence".to_string())?;
            out.push_str(&s);
        }
        Ok(())
    };
    while let Some(c) = it.next() {
        if c != '\\' {
            flush(&mut out, &mut bytes)?;
            out.push(c);
            continue;
        }
        let e = it.next().ok_or_else(|| "invalid syntax".to_string())?;
        let simple = match e {
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{0b}'),
            '\\' => Some('\\'),
            '\'' | '"' if e == quote => Some(e),
            _ => None,
        };
        if let Some(s) = simple {
            flush(&mut out, &mut bytes)?;
            out.push(s);
            continue;
        }
        let (n, base, byte) = match e {
            '0'..='7' => (2, 8, true),
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            _ => return Err("invalid syntax".to_string()),
        };
        let mut v: u32 = if base == 8 { e as u32 - '0' as u32 } else { 0 };
        for _ in 0..n {
            let d = it
                .next()
                .and_then(|d| d.to_digit(base))
                .ok_or_else(|| "invalid syntax".to_string())?;
            v = v * base + d;
        }
        if byte {
            let b = u8::try_from(v).map_err(|_| "invalid syntax".to_string())?;
            bytes.push(b);
        } else {
            flush(&mut out, &mut bytes)?;
            out.push(char::from_u32(v).ok_or_else(|| "invalid syntax".to_string())?);
        }
    }
    flush(&mut out, &mut bytes)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        Lexer::new(input)
            .tokenize()
            .0
            .iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn lexes_selectors_and_operators() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"sum by(a) (rate(x{a=~"b"}[5m])) >= bool 0x1F"#),
            vec![
                Aggregator(AggOp::Sum),
                Keyword(self::Keyword::By),
                LeftParen,
                Identifier,
                RightParen,
                LeftParen,
                Identifier,
                LeftParen,
                Identifier,
                LeftBrace,
                Identifier,
                EqlRegex,
                String,
                RightBrace,
                LeftBracket,
                Duration,
                RightBracket,
                RightParen,
                RightParen,
                Gte,
                Keyword(self::Keyword::Bool),
                Number,
                Eof
            ]
        );
        assert_eq!(kinds("a:b # comment\n"), vec![MetricIdentifier, Eof]);
        assert_eq!(
            kinds("x[1m:30s]"),
            vec![
                Identifier,
                LeftBracket,
                Duration,
                Colon,
                Duration,
                RightBracket,
                Eof
            ]
        );
        assert_eq!(
            kinds("Inf NaN .5 1e-3"),
            vec![Number, Number, Number, Number, Eof]
        );
    }

    /// Upstream's `lex_test.go` cases: token kinds of the input (without
    /// the final `Eof`), or `None` when lexing must fail.
    #[test]
    fn upstream_lexer_table() {
        use TokenKind::*;
        let sum = Aggregator(AggOp::Sum);
        let cases: &[(&str, Option<&[TokenKind]>)] = &[
            (",", Some(&[Comma])),
            ("()", Some(&[LeftParen, RightParen])),
            ("{}", Some(&[LeftBrace, RightBrace])),
            ("[5m]", Some(&[LeftBracket, Duration, RightBracket])),
            ("[  5m ]", Some(&[LeftBracket, Duration, RightBracket])),
            ("\r\n\r", Some(&[])),
            ("4.23", Some(&[Number])),
            (".3", Some(&[Number])),
            ("5.", Some(&[Number])),
            ("nAN", Some(&[Number])),
            ("NaN 123", Some(&[Number, Number])),
            ("NaN123", Some(&[Identifier])),
            ("iNf", Some(&[Number])),
            ("+Inf 123", Some(&[Add, Number, Number])),
            ("Infoo", Some(&[Identifier])),
            ("-Infoo", Some(&[Sub, Identifier])),
            ("0x123", Some(&[Number])),
            ("1_000", Some(&[Number])),
            ("\"test\\tsequence\"", Some(&[String])),
            ("\"test\\\\.expression\"", Some(&[String])),
            ("\"test\\.expression\"", None),
            ("`test\\.expression`", Some(&[String])),
            (".\u{0669}", None),
            (
                "5s 123m 1h 3w 1y",
                Some(&[Duration, Duration, Duration, Duration, Duration]),
            ),
            (
                "a:bc abc d :bc",
                Some(&[MetricIdentifier, Identifier, Identifier, MetricIdentifier]),
            ),
            ("0a:bc", None),
            ("5 # 1+1\n5", Some(&[Number, Number])),
            (
                "= == != < > >= <= + - * / ^ % @",
                Some(&[
                    Eql, Eqlc, Neq, Lss, Gtr, Gte, Lte, Add, Sub, Mul, Div, Pow, Mod, At,
                ]),
            ),
            ("AND or unless atan2", Some(&[Land, Lor, Lunless, Atan2])),
            ("sum SUM", Some(&[sum, sum])),
            ("{=}", Some(&[LeftBrace, Eql, RightBrace])),
            (
                "{NaN\t!= \"bar\" }",
                Some(&[LeftBrace, Identifier, Neq, String, RightBrace]),
            ),
            (
                "{on!~\"bar\"}",
                Some(&[LeftBrace, Identifier, NeqRegex, String, RightBrace]),
            ),
            ("\u{53f0}\u{5317}", None),
            ("{\u{53f0}='a'}", None),
            ("{0a='a'}", None),
            ("{alert!#\"bar\"}", None),
            ("{foo:a=\"bar\"}", None),
            ("=~", None),
            ("!~", None),
            ("!(", None),
            ("1a", None),
            ("(", None),
            ("())", None),
            ("(()", None),
            ("{", None),
            ("}", None),
            ("{{", None),
            ("{{}}", None),
            ("[", None),
            ("[[", None),
            ("[]]", None),
            ("[[]]", None),
            ("]", None),
            (
                "test:name{on!~\"b:ar\"}[4m:]",
                Some(&[
                    MetricIdentifier,
                    LeftBrace,
                    Identifier,
                    NeqRegex,
                    String,
                    RightBrace,
                    LeftBracket,
                    Duration,
                    Colon,
                    RightBracket,
                ]),
            ),
        ];
        for (input, want) in cases {
            let (tokens, err) = Lexer::new(input).tokenize();
            match want {
                None => assert!(err.is_some(), "{input:?} should fail, got {tokens:?}"),
                Some(kinds) => {
                    assert_eq!(err, None, "{input:?}");
                    let got: Vec<TokenKind> = tokens
                        .iter()
                        .map(|t| t.kind)
                        .filter(|k| *k != Eof)
                        .collect();
                    assert_eq!(&got, kinds, "{input:?}");
                }
            }
        }
    }

    #[test]
    fn reports_lexer_errors() {
        let (_, err) = Lexer::new("a{b=\"c}").tokenize();
        assert_eq!(err.as_deref(), Some("unterminated quoted string"));
        let (_, err) = Lexer::new("1a").tokenize();
        assert_eq!(err.as_deref(), Some("bad number or duration syntax: \"1\""));
        let (_, err) = Lexer::new("a ! b").tokenize();
        assert_eq!(err.as_deref(), Some("unexpected character after '!': ' '"));
        let (_, err) = Lexer::new("(a").tokenize();
        assert_eq!(err.as_deref(), Some("unclosed left parenthesis"));
        let (_, err) = Lexer::new(r#""\z""#).tokenize();
        assert_eq!(err.as_deref(), Some("unknown escape sequence U+007A 'z'"));
    }

    #[test]
    fn unquotes_go_strings() {
        assert_eq!(unquote(r#""a\n\"b\x41\u00e9""#).as_deref(), Ok("a\n\"bAé"));
        assert_eq!(unquote(r"'it\'s'").as_deref(), Ok("it's"));
        assert_eq!(unquote(r"`raw\n`").as_deref(), Ok(r"raw\n"));
        assert_eq!(unquote(r#""\101""#).as_deref(), Ok("A"));
    }
}
