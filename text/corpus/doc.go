// Package corpus reads the parallel corpora qkv trains on: tab-separated
// source/target pairs, the CMU Pronouncing Dictionary (Carnegie Mellon
// University, http://www.speech.cs.cmu.edu/cgi-bin/cmudict) for
// grapheme-to-phoneme conversion, and GNU gettext message catalogues (.mo
// and .po, as documented in the GNU gettext manual, section "The Format of
// GNU MO Files" and "The Format of PO Files"), from which it builds
// English→LL corpora of software messages.
//
// Readers never panic on bad input: they return errors that name the file,
// the line (or byte offset) and the problem.
package corpus
