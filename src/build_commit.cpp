// The build's commit stamp, kept in a file of its own: the generated header changes with every
// commit, and only this file recompiles then.
#include "build_commit.hpp"
#include "samplejit/jit.hpp"

namespace samplejit {

const char* build_commit() { return SAMPLEJIT_BUILD_COMMIT; }

}  // namespace samplejit
