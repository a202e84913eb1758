// Package cmudict embeds the CMU Pronouncing Dictionary (Carnegie Mellon
// University, BSD-style licence in LICENSE; see README.md): 135,155 lines of
// "word<TAB>phones", lowercase words, ARPAbet phones with stress digits,
// alternatives written "word(2)". It is compressed with gzip (about 0.9 MB)
// and part of every binary that imports this package, so the demo and the
// tests run with no download.
package cmudict

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"

	"github.com/qkv-dev/qkv/text/corpus"
)

//go:embed cmudict.tsv.gz
var compressed []byte

// License is the text of the dictionary's licence, for binaries that
// redistribute it.
//
//go:embed LICENSE
var License string

// Name is the name errors from Entries give the embedded file.
const Name = "cmudict.tsv"

// Open returns the uncompressed TSV as a stream. Close it when done.
func Open() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(compressed))
}

// Entries parses the embedded dictionary with corpus.ReadCMUdict: one
// Pronunciation for each word, its alternatives grouped in file order.
func Entries(opt corpus.CMUOptions) ([]corpus.Pronunciation, error) {
	rc, err := Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return corpus.ReadCMUdict(rc, Name, opt)
}
