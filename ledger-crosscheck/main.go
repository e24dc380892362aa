// Command crosscheck verifies bioguard's Merkle roots, proofs and signed checkpoints with
// Go's golang.org/x/mod/sumdb/tlog and sumdb/note, an implementation independent of ours.
// It reads the JSON lines written by `bioguard audit vectors` on standard input, accepts every
// valid root, proof and signature, and must reject a bit-flipped copy of each.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	Index  int64    `json:"index"`
	Leaf   string   `json:"leaf"`
	Hashes []string `json:"hashes"`
}

type consistency struct {
	From     int64    `json:"from"`
	FromRoot string   `json:"from_root"`
	Hashes   []string `json:"hashes"`
}

type record struct {
	Verifier    string        `json:"verifier"`
	Size        int64         `json:"size"`
	Root        string        `json:"root"`
	Checkpoint  string        `json:"checkpoint"`
	Inclusion   []proof       `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(ss []string) []tlog.Hash {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		out[i] = hash(s)
	}
	return out
}

func flip(h tlog.Hash) tlog.Hash {
	h[7] ^= 0x10
	return h
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "crosscheck: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	var sizes, inclusions, consistencies, rejected int
	var verifier note.Verifier
	for in.Scan() {
		var r record
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			fail("bad input line: %v", err)
		}
		if verifier == nil {
			v, err := note.NewVerifier(r.Verifier)
			if err != nil {
				fail("verifier key %q: %v", r.Verifier, err)
			}
			verifier = v
		}
		root := hash(r.Root)

		// The signed checkpoint: signature, then origin / size / root lines.
		n, err := note.Open([]byte(r.Checkpoint), note.VerifierList(verifier))
		if err != nil {
			fail("size %d: checkpoint refused: %v", r.Size, err)
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) < 4 {
			fail("size %d: checkpoint text has %d lines", r.Size, len(lines))
		}
		if size, err := strconv.ParseInt(lines[1], 10, 64); err != nil || size != r.Size {
			fail("size %d: checkpoint says %q", r.Size, lines[1])
		}
		if hash(lines[2]) != root {
			fail("size %d: checkpoint root differs", r.Size)
		}
		tampered := strings.Replace(r.Checkpoint, "\n"+lines[2]+"\n", "\n"+base64.StdEncoding.EncodeToString(func() []byte { h := flip(root); return h[:] }())+"\n", 1)
		if _, err := note.Open([]byte(tampered), note.VerifierList(verifier)); err == nil {
			fail("size %d: a checkpoint with a flipped root was accepted", r.Size)
		}
		rejected++

		for _, p := range r.Inclusion {
			leaf := hash(p.Leaf)
			pr := tlog.RecordProof(hashes(p.Hashes))
			if err := tlog.CheckRecord(pr, r.Size, root, p.Index, leaf); err != nil {
				fail("size %d index %d: inclusion proof refused: %v", r.Size, p.Index, err)
			}
			inclusions++
			if err := tlog.CheckRecord(pr, r.Size, flip(root), p.Index, leaf); err == nil {
				fail("size %d index %d: accepted against a flipped root", r.Size, p.Index)
			}
			if len(pr) > 0 {
				bad := append(tlog.RecordProof{}, pr...)
				bad[0] = flip(bad[0])
				if err := tlog.CheckRecord(bad, r.Size, root, p.Index, leaf); err == nil {
					fail("size %d index %d: a flipped proof was accepted", r.Size, p.Index)
				}
			}
			rejected++
		}
		for _, c := range r.Consistency {
			from := hash(c.FromRoot)
			pr := tlog.TreeProof(hashes(c.Hashes))
			if err := tlog.CheckTree(pr, r.Size, root, c.From, from); err != nil {
				fail("consistency %d -> %d refused: %v", c.From, r.Size, err)
			}
			consistencies++
			if err := tlog.CheckTree(pr, r.Size, root, c.From, flip(from)); err == nil && c.From != r.Size {
				fail("consistency %d -> %d accepted with a flipped old root", c.From, r.Size)
			}
			if len(pr) > 0 {
				bad := append(tlog.TreeProof{}, pr...)
				bad[len(bad)-1] = flip(bad[len(bad)-1])
				if err := tlog.CheckTree(bad, r.Size, root, c.From, from); err == nil {
					fail("consistency %d -> %d: a flipped proof was accepted", c.From, r.Size)
				}
			}
			rejected++
		}
		sizes++
	}
	if err := in.Err(); err != nil {
		fail("reading input: %v", err)
	}
	if sizes < 1000 {
		fail("only %d tree sizes checked; at least 1000 expected", sizes)
	}
	fmt.Printf("crosscheck: %d tree sizes, %d inclusion proofs, %d consistency proofs and their checkpoints accepted by Go's sumdb/tlog and sumdb/note; %d tampered copies rejected\n",
		sizes, inclusions, consistencies, rejected)
}
