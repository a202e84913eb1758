#!/usr/bin/python3
"""Writes porter_nltk.tsv: word<TAB>stem for every word of porter_words.txt,
stemmed by NLTK's PorterStemmer() in its default mode (NLTK_EXTENSIONS),
which is what rouge-score's use_stemmer=True runs.

Debian: apt-get install python3-nltk; then /usr/bin/python3 porter_nltk.py
(made with NLTK 3.8). metrics/porter_test.go reads the result; the tests
never need Python.
"""
from nltk.stem import porter

stemmer = porter.PorterStemmer()
with open("porter_words.txt") as f, open("porter_nltk.tsv", "w") as out:
    for line in f:
        w = line.strip()
        if w:
            out.write("%s\t%s\n" % (w, stemmer.stem(w)))
