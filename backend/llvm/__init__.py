"""LLVM CPU backend (llvmlite): lowers kernel IR to machine code. Not implemented yet."""
