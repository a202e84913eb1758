// Package tensor holds qkv's float32 tensors and its reverse-mode automatic
// differentiation over coarse operations.
//
// A [Graph] is a tape: every operation that needs a gradient appends its
// output tensor, which records the inputs and a backward function, so the
// tape is already in topological order and [Graph.Backward] simply walks it
// in reverse (the idea of micrograd, without the sort). Each operation's
// forward and backward functions sit side by side in one file, as in llm.c;
// backward functions accumulate (+=) into the gradients of their inputs.
//
// Intermediate tensors, their gradients and the tensor headers themselves
// come from per-graph arenas that [Graph.Reset] recycles, so after the first
// training step a step allocates nothing and the garbage collector has no
// work. Parameters ([NewParam]) live outside the arenas and persist.
//
// Shapes are written beside arguments as in the papers' notation, e.g.
// x (B, T, D). All tensors are contiguous and row-major; [Graph.Reshape]
// returns a view that shares data and gradient with its source.
//
// References: Rumelhart, Hinton & Williams 1986 (back-propagation);
// Griewank & Walther, Evaluating Derivatives (reverse mode on a tape).
package tensor
