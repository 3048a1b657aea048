// Reading one function of a lazily loaded bitcode module.
//
// `LLVMGetBitcodeModuleInContext2` reads a module's globals and declarations and
// leaves every function body in the bitcode until it is materialized; the C API has
// no call that materializes a single function, so this is it. A tier-1 compile
// needs one body of the app's module (every other function becomes a declaration).

#include "llvm-c/Core.h"
#include "llvm/IR/Function.h"
#include "llvm/Support/Error.h"

#include <cstdlib>
#include <cstring>

using namespace llvm;

extern "C" {

// Reads the body of `function` (of a lazily loaded module) from its bitcode. Returns
// 0, or 1 with a message in `*message` (to free with `LLVMDisposeMessage`).
int bf_materialize_function(LLVMValueRef function, char **message) {
  Function *F = unwrap<Function>(function);
  if (Error E = F->materialize()) {
    *message = strdup(toString(std::move(E)).c_str());
    return 1;
  }
  return 0;
}
}
