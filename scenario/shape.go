package scenario

// The shape check that runs before go-yaml's parser. Some shapes cost the
// parser far more than the file's size: its work grows with the square of
// the nesting depth, of the keys in one block map and of the documents in
// a file (200 KB of nested brackets took 15 GB and half a minute; 200,000
// keys or documents, minutes), and its memory with the number of tokens.
// No scenario needs any of that. So a rough count of the tokens, then
// go-yaml's scanner (whose cost follows the token count) read the file
// first, and the first shape past a limit (ast.go) is the file's error.

import (
	"fmt"

	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"
)

// level is one open block collection: the column of its keys or items.
type level struct {
	col   int
	isMap bool
	keys  int
}

// roughTokens counts the YAML tokens of data about as go-yaml's scanner
// would, without building them: each of [ ] { } , : is one, each run of
// other non-space bytes one more (two when it starts an anchor, alias or
// tag), a quoted text one, a comment none. It counts many tokens as fewer
// only in plain text holding colons, so a file it passes costs the
// scanner and the parser about what MaxYAMLTokens allows. It returns the
// line and column where the count passes limit, or 0, 0.
func roughTokens(data []byte, limit int) (line, col int) {
	n, ln, start := 0, 1, 0
	word := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\n':
			ln, start, word = ln+1, i+1, false
			continue
		case ' ', '\t', '\r':
			word = false
			continue
		case '[', ']', '{', '}', ',', ':':
			word = false
			n++
		case '#':
			if word {
				continue // part of a word, as in a tag
			}
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
			continue
		case '"', '\'':
			if word {
				continue
			}
			n++
			from := i
			for i++; i < len(data); i++ {
				if data[i] == '\n' {
					ln, start = ln+1, i+1
				}
				if c == '"' && data[i] == '\\' {
					i++
					continue
				}
				if data[i] == c {
					if c == '\'' && i+1 < len(data) && data[i+1] == '\'' {
						i++ // '' is a quote inside single quotes
						continue
					}
					break
				}
			}
			if n > limit {
				return ln, from - start + 1
			}
			continue
		default:
			if word {
				continue
			}
			word = true
			n++
			if c == '&' || c == '*' || c == '!' {
				n++
			}
		}
		if n > limit {
			return ln, i - start + 1
		}
	}
	return 0, 0
}

// checkShape scans data and returns the error for the first place where
// it passes a limit, or where a second YAML document starts; nil when
// there is none or the scanner fails (the parser then reports the syntax
// error, at go-yaml's position).
func checkShape(name string, data []byte) *Error {
	if line, col := roughTokens(data, MaxYAMLTokens); line > 0 {
		return &Error{Pos: Pos{File: name, Line: line, Col: col},
			Msg: fmt.Sprintf("the file has more than %d YAML tokens (keys, values, brackets, commas, - and : markers); no scenario needs that many", MaxYAMLTokens)}
	}
	var s scanner.Scanner
	s.Init(string(data))
	var (
		stack     []level
		flow      int  // open [ and {
		content   bool // the document has begun
		ended     bool // ... ended it
		prev      *token.Token
		directive int // the line of a directive
		headerAt  *token.Token
	)
	at := func(tk *token.Token, format string, args ...any) *Error {
		p := Pos{File: name, Line: 1, Col: 1}
		if tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			p.Line, p.Col = tk.Position.Line, max(tk.Position.Column, 1)
		}
		return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
	}
	for {
		tks, err := s.Scan()
		if err != nil {
			return nil // io.EOF, or a syntax error the parser reports
		}
		for _, tk := range tks {
			if tk == nil || tk.Position == nil {
				continue
			}
			switch tk.Type {
			case token.CommentType:
				continue
			case token.DirectiveType:
				directive = tk.Position.Line // %YAML 1.2: its words are no content
				prev = tk
				continue
			case token.DocumentHeaderType:
				if content || headerAt != nil {
					return at(tk, "a scenario file holds one YAML document; this is a second")
				}
				headerAt = tk
				prev = tk
				continue
			case token.DocumentEndType:
				ended = true
				prev = tk
				continue
			}
			if tk.Position.Line == directive {
				continue
			}
			if ended {
				return at(tk, "a scenario file holds one YAML document; this is a second")
			}
			content = true
			col, where := tk.Position.Column, tk
			switch tk.Type {
			case token.SequenceStartType, token.MappingStartType:
				flow++
			case token.SequenceEndType, token.MappingEndType:
				flow = max(flow-1, 0)
			case token.SequenceEntryType:
				if flow > 0 {
					break
				}
				for len(stack) > 0 && stack[len(stack)-1].col > col {
					stack = stack[:len(stack)-1]
				}
				if n := len(stack); n == 0 || stack[n-1].col != col || stack[n-1].isMap {
					stack = append(stack, level{col: col})
				}
			case token.MappingValueType, token.MappingKeyType:
				if flow > 0 {
					break
				}
				key := tk
				if tk.Type == token.MappingValueType && prev != nil && prev.Position != nil {
					key = prev // the key stands before its colon
				}
				kcol := key.Position.Column
				where = key
				for len(stack) > 0 && (stack[len(stack)-1].col > kcol ||
					stack[len(stack)-1].col == kcol && !stack[len(stack)-1].isMap) {
					stack = stack[:len(stack)-1]
				}
				if n := len(stack); n > 0 && stack[n-1].col == kcol {
					stack[n-1].keys++
					if stack[n-1].keys > MaxYAMLKeys {
						return at(key, "a map has more than %d keys; no scenario needs that many", MaxYAMLKeys)
					}
				} else {
					stack = append(stack, level{col: kcol, isMap: true, keys: 1})
				}
			}
			if len(stack)+flow > MaxYAMLDepth {
				return at(where, "maps and lists nest more than %d deep; no scenario needs that", MaxYAMLDepth)
			}
			prev = tk
		}
	}
}

// openFlow returns the start ('{' or '[') of the innermost flow collection
// still open just before line and col, as go-yaml's scanner reads data, so
// a syntax error found lines after a bracket that was never closed can
// name that bracket and its key; ok is false when none is open there.
func openFlow(data []byte, line, col int) (start *token.Token, ok bool) {
	var s scanner.Scanner
	s.Init(string(data))
	var open []*token.Token
scan:
	for {
		tks, err := s.Scan()
		if err != nil {
			break // io.EOF, or the scanner's own error past what it returned
		}
		for _, tk := range tks {
			if tk == nil || tk.Position == nil {
				continue
			}
			if p := tk.Position; p.Line > line || p.Line == line && p.Column >= col {
				break scan
			}
			switch tk.Type {
			case token.MappingStartType, token.SequenceStartType:
				open = append(open, tk)
			case token.MappingEndType, token.SequenceEndType:
				open = open[:max(len(open)-1, 0)]
			}
		}
	}
	if len(open) == 0 {
		return nil, false
	}
	return open[len(open)-1], true
}
