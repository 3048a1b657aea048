// An object emitter that keeps LLVM's code-generation pass pipeline across modules.
//
// `LLVMTargetMachineEmitToMemoryBuffer` builds the whole legacy pass pipeline of the
// code generator (`TargetMachine::addPassesToEmitFile`: about a hundred passes
// scheduled one by one) for every module it compiles, which for one small function
// is about a tenth of the compile. The legacy pass manager can run one module after
// another: each run initialises and finalises its passes for that module
// (`MachineModuleInfo`, the `AsmPrinter`, whose streamer is reset after writing the
// object). So one pipeline per target machine is built once and reused; the object
// goes to a buffer the emitter owns, emptied before each module.

#include "llvm-c/Core.h"
#include "llvm-c/TargetMachine.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

using namespace llvm;

namespace {
struct Emitter {
  TargetMachine *TM;
  SmallVector<char, 0> Buffer;
  raw_svector_ostream OS{Buffer};
  legacy::PassManager PM;
};
} // namespace

extern "C" {

// A new emitter for `machine`, or null if it cannot emit objects. The machine must
// outlive the emitter.
void *bf_emitter_new(LLVMTargetMachineRef machine) {
  auto *E = new Emitter();
  E->TM = reinterpret_cast<TargetMachine *>(machine);
  if (E->TM->addPassesToEmitFile(E->PM, E->OS, nullptr, CodeGenFileType::ObjectFile)) {
    delete E;
    return nullptr;
  }
  return E;
}

// Compiles `module` (its data layout set to the machine's) to an ELF object; returns
// its bytes, valid until the next call on this emitter, and their number in `size`.
const char *bf_emitter_run(void *emitter, LLVMModuleRef module, size_t *size) {
  auto *E = static_cast<Emitter *>(emitter);
  Module *M = unwrap(module);
  M->setDataLayout(E->TM->createDataLayout());
  E->Buffer.clear();
  E->PM.run(*M);
  *size = E->Buffer.size();
  return E->Buffer.data();
}

void bf_emitter_dispose(void *emitter) { delete static_cast<Emitter *>(emitter); }
}
