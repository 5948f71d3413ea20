/*
 * tests/lint/analyzer.h - what clang-tidy's static analyzer needs to know
 * of libbpf (make lint, mk/lint.mk, force-included in every file it
 * checks). bpftool's generated skeleton (memwatch.skel.h) frees its
 * skeleton through bpf_object__destroy_skeleton; without this the
 * analyzer reports a leak in code that is neither ours nor wrong. The
 * attribute is read in .clang-tidy's optimistic malloc modelling.
 */
struct bpf_object_skeleton;
void bpf_object__destroy_skeleton(struct bpf_object_skeleton *s)
	__attribute__((ownership_takes(malloc, 1)));
