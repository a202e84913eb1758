package main

func vecKernels() {}
