// BareFlow's optimisation pipelines, built from an explicit list of passes (issue 16).
//
// LLVM's C API runs passes only through `LLVMRunPasses`, which parses pipeline text
// such as `default<O3>`. The parser refers to every pass and analysis LLVM has, so
// all of them end up in the kernel, as do the passes the default pipelines enable
// only under command-line options (PGO instrumentation, sample profiles, the
// Attributor, OpenMP, coroutines, outliners, merge-functions, ...).
//
// Here each pipeline is written out pass by pass. The lists follow LLVM 22's
// `PassBuilder::buildPerModuleDefaultPipeline` (lib/Passes/PassBuilderPipelines.cpp)
// with the options `LLVMRunPasses("default<On>")` uses (PipelineTuningOptions'
// defaults), exactly as `LLVMRunPasses` runs them: the same passes in the same order
// with the same parameters, minus
//  - the passes that do nothing for our modules (no profile data, no coroutines, no
//    OpenMP, no instrumentation attributes, no remarks);
//  - the vectorizers (issue 16, step 15), the optimiser's largest code. The loop
//    vectorizer (with loop distribution and the vector-library mappings that only
//    serve it) vectorizes no loop of the apps or the C programs. SLP vectorization
//    (with VectorCombine, which then has nothing to combine) does change them, and
//    costs as much speed as it gains: without it nbody's t2 runs 17 % faster and
//    sha256's host-tuned t2 37 %, while matmul's and sieve's host-tuned t2 are 2-4 %
//    slower;
//  - twelve passes that change nothing in the apps' IR at O1 or O3, nor in the C
//    programs' as the suite builds them (clang -O2) but for one call-site split,
//    checked with `opt -opt-disable`:
//    speculative-execution (divergent targets only), libcalls-shrinkwrap,
//    aggressive-instcombine, constraint-elimination, move-auto-init,
//    callsite-splitting, called-value-propagation, float2int, loop-load-elim,
//    loop-sink (profile data only), loop-idiom, mldst-motion.
// The code of a pass no pipeline names is not linked into the kernel.
// docs/llvm-size.md lists what was left out and why. `crates/llvm/tests/pipelines.rs`
// checks that each pipeline leaves the IR `LLVMRunPasses("default<On>")` leaves with
// those passes switched off by LLVM's `-opt-disable`.
//
// The analyses are registered here too (`registerAnalyses`), not by PassBuilder's
// `register*Analyses`: those register every analysis LLVM has, and each registration
// links the analysis's code. The list below is PassRegistry.def's, minus the analyses
// only passes we never run ask for (listed there, with those passes). A pass asking
// for an unregistered analysis would crash in LLVM's release build, so the list errs
// on the side of keeping.
//
// Rust calls `bf_run_pipeline` (crates/llvm/src/module.rs, `Module::run_pipeline`).

#include "llvm-c/Core.h"
#include "llvm-c/TargetMachine.h"
#include "llvm/Analysis/AssumptionCache.h"
#include "llvm/Analysis/BasicAliasAnalysis.h"
#include "llvm/Analysis/BlockFrequencyInfo.h"
#include "llvm/Analysis/BranchProbabilityInfo.h"
#include "llvm/Analysis/CGSCCPassManager.h"
#include "llvm/Analysis/CallGraph.h"
#include "llvm/Analysis/CtxProfAnalysis.h"
#include "llvm/Analysis/CycleAnalysis.h"
#include "llvm/Analysis/DemandedBits.h"
#include "llvm/Analysis/DominanceFrontier.h"
#include "llvm/Analysis/EphemeralValuesCache.h"
#include "llvm/Analysis/FunctionPropertiesAnalysis.h"
#include "llvm/Analysis/IVUsers.h"
#include "llvm/Analysis/InlineAdvisor.h"
#include "llvm/Analysis/LastRunTrackingAnalysis.h"
#include "llvm/Analysis/LazyCallGraph.h"
#include "llvm/Analysis/LazyValueInfo.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/Analysis/MemoryDependenceAnalysis.h"
#include "llvm/Analysis/MemorySSA.h"
#include "llvm/Analysis/OptimizationRemarkEmitter.h"
#include "llvm/Analysis/PhiValues.h"
#include "llvm/Analysis/PostDominators.h"
#include "llvm/Analysis/RuntimeLibcallInfo.h"
#include "llvm/Analysis/ScalarEvolution.h"
#include "llvm/Analysis/ScalarEvolutionAliasAnalysis.h"
#include "llvm/Analysis/ScopedNoAliasAA.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/Analysis/TargetTransformInfo.h"
#include "llvm/Analysis/TypeBasedAliasAnalysis.h"
#include "llvm/Analysis/UniformityAnalysis.h"
#include "llvm/CodeGen/AssignmentTrackingAnalysis.h"
#include "llvm/CodeGen/GCMetadata.h"
#include "llvm/CodeGen/LibcallLoweringInfo.h"
#include "llvm/CodeGen/MachineFunctionAnalysis.h"
#include "llvm/CodeGen/RegisterUsageInfo.h"
#include "llvm/CodeGen/StackProtector.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/PassInstrumentation.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Analysis/GlobalsModRef.h"
#include "llvm/Analysis/InlineCost.h"
#include "llvm/Analysis/ProfileSummaryInfo.h"
#include "llvm/CodeGen/ExpandReductions.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassManager.h"
#include "llvm/Passes/OptimizationLevel.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/IPO/AlwaysInliner.h"
#include "llvm/Transforms/IPO/ArgumentPromotion.h"
#include "llvm/Transforms/IPO/ConstantMerge.h"
#include "llvm/Transforms/IPO/DeadArgumentElimination.h"
#include "llvm/Transforms/IPO/ElimAvailExtern.h"
#include "llvm/Transforms/IPO/FunctionAttrs.h"
#include "llvm/Transforms/IPO/GlobalDCE.h"
#include "llvm/Transforms/IPO/GlobalOpt.h"
#include "llvm/Transforms/IPO/InferFunctionAttrs.h"
#include "llvm/Transforms/IPO/Inliner.h"
#include "llvm/Transforms/IPO/SCCP.h"
#include "llvm/Transforms/InstCombine/InstCombine.h"
#include "llvm/Transforms/Scalar/ADCE.h"
#include "llvm/Transforms/Scalar/AlignmentFromAssumptions.h"
#include "llvm/Transforms/Scalar/BDCE.h"
#include "llvm/Transforms/Scalar/CorrelatedValuePropagation.h"
#include "llvm/Transforms/Scalar/DeadStoreElimination.h"
#include "llvm/Transforms/Scalar/DivRemPairs.h"
#include "llvm/Transforms/Scalar/DropUnnecessaryAssumes.h"
#include "llvm/Transforms/Scalar/EarlyCSE.h"
#include "llvm/Transforms/Scalar/GVN.h"
#include "llvm/Transforms/Scalar/IndVarSimplify.h"
#include "llvm/Transforms/Scalar/InferAlignment.h"
#include "llvm/Transforms/Scalar/InstSimplifyPass.h"
#include "llvm/Transforms/Scalar/JumpThreading.h"
#include "llvm/Transforms/Scalar/LICM.h"
#include "llvm/Transforms/Scalar/LoopDeletion.h"
#include "llvm/Transforms/Scalar/LoopInstSimplify.h"
#include "llvm/Transforms/Scalar/LoopPassManager.h"
#include "llvm/Transforms/Scalar/LoopRotation.h"
#include "llvm/Transforms/Scalar/LoopSimplifyCFG.h"
#include "llvm/Transforms/Scalar/LoopUnrollPass.h"
#include "llvm/Transforms/Scalar/LowerConstantIntrinsics.h"
#include "llvm/Transforms/Scalar/LowerExpectIntrinsic.h"
#include "llvm/Transforms/Scalar/MemCpyOptimizer.h"
#include "llvm/Transforms/Scalar/Reassociate.h"
#include "llvm/Transforms/Scalar/SCCP.h"
#include "llvm/Transforms/Scalar/SROA.h"
#include "llvm/Transforms/Scalar/Scalarizer.h"
#include "llvm/Transforms/Scalar/SimpleLoopUnswitch.h"
#include "llvm/Transforms/Scalar/SimplifyCFG.h"
#include "llvm/Transforms/Scalar/TailRecursionElimination.h"
#include "llvm/Transforms/Utils/ExtraPassManager.h"
#include "llvm/Transforms/Utils/Mem2Reg.h"
#include "llvm/Transforms/Utils/RelLookupTableConverter.h"

using namespace llvm;

namespace {

// The pipelines Rust can ask for: keep in step with `Pipeline` in module.rs.
enum BfPipeline : unsigned {
  BF_PIPELINE_O0 = 0,
  BF_PIPELINE_O1 = 1,
  BF_PIPELINE_O2 = 2,
  BF_PIPELINE_O3 = 3,
  BF_PIPELINE_SCALARIZE = 4,
};

// PipelineTuningOptions as its constructor sets them (PassBuilderPipelines.cpp), with
// the command-line options it reads at their defaults. Our own struct, and our own
// alias-analysis stack and proxies below, so that neither PassBuilder.cpp nor
// PassBuilderPipelines.cpp is linked: each refers to every pass LLVM has, and an
// object, once linked, keeps its static constructors (and what they reach) even where
// --gc-sections drops its code.
struct Tuning {
  bool LoopUnrolling = true;
  bool ForgetAllSCEVInLoopUnroll = ForgetSCEVInLoopUnroll;
  unsigned LicmMssaOptCap = SetLicmMssaOptCap;
  unsigned LicmMssaNoAccForPromotionCap = SetLicmMssaNoAccForPromotionCap;
  // -eagerly-invalidate-analyses (PassBuilderPipelines.cpp), default true.
  bool EagerlyInvalidateAnalyses = true;
};

SimplifyCFGPass simplifyCFG() {
  return SimplifyCFGPass(SimplifyCFGOptions().convertSwitchRangeToICmp(true));
}

LICMPass licm(const Tuning &PTO, bool AllowSpeculation) {
  return LICMPass(PTO.LicmMssaOptCap, PTO.LicmMssaNoAccForPromotionCap,
                  AllowSpeculation);
}

// buildO1FunctionSimplificationPipeline.
FunctionPassManager functionSimplificationO1(const Tuning &PTO) {
  FunctionPassManager FPM;
  FPM.addPass(SROAPass(SROAOptions::ModifyCFG));
  FPM.addPass(EarlyCSEPass(/*UseMemorySSA=*/true));
  FPM.addPass(simplifyCFG());
  FPM.addPass(InstCombinePass());
  FPM.addPass(simplifyCFG());
  FPM.addPass(ReassociatePass());

  LoopPassManager LPM1, LPM2;
  LPM1.addPass(LoopInstSimplifyPass());
  LPM1.addPass(LoopSimplifyCFGPass());
  LPM1.addPass(licm(PTO, /*AllowSpeculation=*/false));
  LPM1.addPass(LoopRotatePass(/*EnableHeaderDuplication=*/true,
                              /*PrepareForLTO=*/false));
  LPM1.addPass(licm(PTO, /*AllowSpeculation=*/true));
  LPM1.addPass(SimpleLoopUnswitchPass());
  LPM2.addPass(IndVarSimplifyPass());
  LPM2.addPass(LoopDeletionPass());
  LPM2.addPass(LoopFullUnrollPass(/*OptLevel=*/1,
                                  /*OnlyWhenForced=*/!PTO.LoopUnrolling,
                                  PTO.ForgetAllSCEVInLoopUnroll));

  FPM.addPass(createFunctionToLoopPassAdaptor(std::move(LPM1),
                                              /*UseMemorySSA=*/true));
  FPM.addPass(simplifyCFG());
  FPM.addPass(InstCombinePass());
  FPM.addPass(createFunctionToLoopPassAdaptor(std::move(LPM2),
                                              /*UseMemorySSA=*/false));
  FPM.addPass(SROAPass(SROAOptions::ModifyCFG));
  FPM.addPass(MemCpyOptPass());
  FPM.addPass(SCCPPass());
  FPM.addPass(BDCEPass());
  FPM.addPass(InstCombinePass());
  FPM.addPass(ADCEPass());
  FPM.addPass(simplifyCFG());
  FPM.addPass(InstCombinePass());
  return FPM;
}

// buildFunctionSimplificationPipeline for O2 and O3.
FunctionPassManager functionSimplification(OptimizationLevel Level,
                                           const Tuning &PTO) {
  const bool O3 = Level == OptimizationLevel::O3;
  FunctionPassManager FPM;
  FPM.addPass(SROAPass(SROAOptions::ModifyCFG));
  FPM.addPass(EarlyCSEPass(/*UseMemorySSA=*/true));
  FPM.addPass(JumpThreadingPass());
  FPM.addPass(CorrelatedValuePropagationPass());
  FPM.addPass(simplifyCFG());
  FPM.addPass(InstCombinePass());
  FPM.addPass(TailCallElimPass(/*UpdateFunctionEntryCount=*/false));
  FPM.addPass(simplifyCFG());
  FPM.addPass(ReassociatePass());

  LoopPassManager LPM1, LPM2;
  LPM1.addPass(LoopInstSimplifyPass());
  LPM1.addPass(LoopSimplifyCFGPass());
  LPM1.addPass(licm(PTO, /*AllowSpeculation=*/false));
  LPM1.addPass(LoopRotatePass(/*EnableHeaderDuplication=*/true,
                              /*PrepareForLTO=*/false));
  LPM1.addPass(licm(PTO, /*AllowSpeculation=*/true));
  LPM1.addPass(SimpleLoopUnswitchPass(/*NonTrivial=*/O3));
  LPM2.addPass(IndVarSimplifyPass());
  {
    ExtraLoopPassManager<ShouldRunExtraSimpleLoopUnswitch> ExtraPasses;
    ExtraPasses.addPass(SimpleLoopUnswitchPass(/*NonTrivial=*/O3));
    LPM2.addPass(std::move(ExtraPasses));
  }
  LPM2.addPass(LoopDeletionPass());
  LPM2.addPass(LoopFullUnrollPass(Level.getSpeedupLevel(),
                                  /*OnlyWhenForced=*/!PTO.LoopUnrolling,
                                  PTO.ForgetAllSCEVInLoopUnroll));

  FPM.addPass(createFunctionToLoopPassAdaptor(std::move(LPM1),
                                              /*UseMemorySSA=*/true));
  FPM.addPass(simplifyCFG());
  FPM.addPass(InstCombinePass());
  FPM.addPass(createFunctionToLoopPassAdaptor(std::move(LPM2),
                                              /*UseMemorySSA=*/false));
  FPM.addPass(SROAPass(SROAOptions::ModifyCFG));
  FPM.addPass(GVNPass());
  FPM.addPass(SCCPPass());
  FPM.addPass(BDCEPass());
  FPM.addPass(InstCombinePass());
  FPM.addPass(JumpThreadingPass());
  FPM.addPass(CorrelatedValuePropagationPass());
  FPM.addPass(ADCEPass());
  FPM.addPass(MemCpyOptPass());
  FPM.addPass(DSEPass());
  FPM.addPass(createFunctionToLoopPassAdaptor(
      licm(PTO, /*AllowSpeculation=*/true), /*UseMemorySSA=*/true));
  FPM.addPass(SimplifyCFGPass(SimplifyCFGOptions()
                                  .convertSwitchRangeToICmp(true)
                                  .convertSwitchToArithmetic(true)
                                  .hoistCommonInsts(true)
                                  .sinkCommonInsts(true)));
  FPM.addPass(InstCombinePass());
  return FPM;
}

// buildInlinerPipeline: the CGSCC walk that inlines and simplifies each function.
ModuleInlinerWrapperPass inliner(OptimizationLevel Level,
                                 const Tuning &PTO) {
  ModuleInlinerWrapperPass MIWP(
      getInlineParams(Level.getSpeedupLevel(), Level.getSizeLevel()),
      /*MandatoryFirst=*/false,
      InlineContext{ThinOrFullLTOPhase::None, InlinePass::CGSCCInliner},
      InliningAdvisorMode::Default, /*MaxDevirtIterations=*/4);
  MIWP.addModulePass(RequireAnalysisPass<GlobalsAA, Module>());
  MIWP.addModulePass(
      createModuleToFunctionPassAdaptor(InvalidateAnalysisPass<AAManager>()));
  MIWP.addModulePass(RequireAnalysisPass<ProfileSummaryAnalysis, Module>());

  CGSCCPassManager &CGPM = MIWP.getPM();
  CGPM.addPass(PostOrderFunctionAttrsPass(/*SkipNonRecursive=*/true));
  if (Level == OptimizationLevel::O3)
    CGPM.addPass(ArgumentPromotionPass());
  FunctionPassManager Simplify = Level.getSpeedupLevel() == 1
                                     ? functionSimplificationO1(PTO)
                                     : functionSimplification(Level, PTO);
  CGPM.addPass(createCGSCCToFunctionPassAdaptor(std::move(Simplify),
                                                PTO.EagerlyInvalidateAnalyses,
                                                /*NoRerun=*/true));
  CGPM.addPass(PostOrderFunctionAttrsPass());
  CGPM.addPass(createCGSCCToFunctionPassAdaptor(
      RequireAnalysisPass<ShouldNotRunFunctionPassesAnalysis, Function>()));
  MIWP.addLateModulePass(createModuleToFunctionPassAdaptor(
      InvalidateAnalysisPass<ShouldNotRunFunctionPassesAnalysis>()));
  return MIWP;
}

// buildModuleSimplificationPipeline.
void moduleSimplification(ModulePassManager &MPM, OptimizationLevel Level,
                          const Tuning &PTO) {
  MPM.addPass(InferFunctionAttrsPass());
  FunctionPassManager EarlyFPM;
  EarlyFPM.addPass(LowerExpectIntrinsicPass());
  EarlyFPM.addPass(SimplifyCFGPass());
  EarlyFPM.addPass(SROAPass(SROAOptions::ModifyCFG));
  EarlyFPM.addPass(EarlyCSEPass());
  MPM.addPass(createModuleToFunctionPassAdaptor(std::move(EarlyFPM),
                                                PTO.EagerlyInvalidateAnalyses));
  MPM.addPass(IPSCCPPass(IPSCCPOptions(/*AllowFuncSpec=*/true)));
  MPM.addPass(GlobalOptPass());
  FunctionPassManager GlobalCleanup;
  GlobalCleanup.addPass(PromotePass());
  GlobalCleanup.addPass(InstCombinePass());
  GlobalCleanup.addPass(simplifyCFG());
  MPM.addPass(createModuleToFunctionPassAdaptor(std::move(GlobalCleanup),
                                                PTO.EagerlyInvalidateAnalyses));
  MPM.addPass(AlwaysInlinerPass(/*InsertLifetimeIntrinsics=*/true));
  MPM.addPass(inliner(Level, PTO));
  MPM.addPass(DeadArgumentEliminationPass());
  MPM.addPass(GlobalOptPass());
  MPM.addPass(GlobalDCEPass());
}

// addVectorPasses (not full LTO, no extra vectorizer passes), without the
// vectorizers (LoopVectorize, SLPVectorizer, VectorCombine) and loop-load-elim.
void vectorPasses(FunctionPassManager &FPM, OptimizationLevel Level,
                  const Tuning &PTO) {
  FPM.addPass(DropUnnecessaryAssumesPass(/*DropDereferenceable=*/true));
  FPM.addPass(InferAlignmentPass());
  FPM.addPass(InstCombinePass());
  FPM.addPass(SimplifyCFGPass(SimplifyCFGOptions()
                                  .forwardSwitchCondToPhi(true)
                                  .convertSwitchRangeToICmp(true)
                                  .convertSwitchToArithmetic(true)
                                  .convertSwitchToLookupTable(true)
                                  .needCanonicalLoops(false)
                                  .hoistCommonInsts(true)
                                  .sinkCommonInsts(true)));
  FPM.addPass(InstCombinePass());
  FPM.addPass(LoopUnrollPass(LoopUnrollOptions(
      Level.getSpeedupLevel(), /*OnlyWhenForced=*/!PTO.LoopUnrolling,
      PTO.ForgetAllSCEVInLoopUnroll)));
  FPM.addPass(SROAPass(SROAOptions::PreserveCFG));
  FPM.addPass(InferAlignmentPass());
  FPM.addPass(InstCombinePass());
  FPM.addPass(createFunctionToLoopPassAdaptor(
      licm(PTO, /*AllowSpeculation=*/true), /*UseMemorySSA=*/true));
  FPM.addPass(AlignmentFromAssumptionsPass());
}

// buildModuleOptimizationPipeline.
void moduleOptimization(ModulePassManager &MPM, OptimizationLevel Level,
                        const Tuning &PTO) {
  MPM.addPass(EliminateAvailableExternallyPass());
  MPM.addPass(ReversePostOrderFunctionAttrsPass());
  MPM.addPass(RecomputeGlobalsAAPass());

  FunctionPassManager OptimizePM;
  OptimizePM.addPass(DropUnnecessaryAssumesPass());
  OptimizePM.addPass(LowerConstantIntrinsicsPass());
  LoopPassManager LPM;
  LPM.addPass(LoopRotatePass(/*EnableHeaderDuplication=*/true,
                             /*PrepareForLTO=*/false));
  LPM.addPass(LoopDeletionPass());
  OptimizePM.addPass(
      createFunctionToLoopPassAdaptor(std::move(LPM), /*UseMemorySSA=*/false));
  vectorPasses(OptimizePM, Level, PTO);
  OptimizePM.addPass(InstSimplifyPass());
  OptimizePM.addPass(DivRemPairsPass());
  OptimizePM.addPass(TailCallElimPass(/*UpdateFunctionEntryCount=*/false));
  OptimizePM.addPass(
      SimplifyCFGPass(SimplifyCFGOptions()
                          .convertSwitchRangeToICmp(true)
                          .convertSwitchToArithmetic(true)
                          .speculateUnpredictables(true)
                          .hoistLoadsStoresWithCondFaulting(true)));
  MPM.addPass(createModuleToFunctionPassAdaptor(std::move(OptimizePM),
                                                PTO.EagerlyInvalidateAnalyses));
  MPM.addPass(GlobalDCEPass());
  MPM.addPass(ConstantMergePass());
  MPM.addPass(RelLookupTableConverterPass());
}

ModulePassManager build(unsigned Which, const Tuning &PTO) {
  ModulePassManager MPM;
  switch (Which) {
  case BF_PIPELINE_O0:
    MPM.addPass(AlwaysInlinerPass(/*InsertLifetimeIntrinsics=*/false));
    break;
  case BF_PIPELINE_O1:
  case BF_PIPELINE_O2:
  case BF_PIPELINE_O3: {
    OptimizationLevel Level = Which == BF_PIPELINE_O1   ? OptimizationLevel::O1
                              : Which == BF_PIPELINE_O2 ? OptimizationLevel::O2
                                                        : OptimizationLevel::O3;
    moduleSimplification(MPM, Level, PTO);
    moduleOptimization(MPM, Level, PTO);
    break;
  }
  case BF_PIPELINE_SCALARIZE: {
    // The interpreter's tier 0 works on scalars: vector reductions are expanded
    // and every vector operation, loads and stores included, is split.
    FunctionPassManager FPM;
    FPM.addPass(ExpandReductionsPass());
    ScalarizerPassOptions Options;
    Options.ScalarizeLoadStore = true;
    FPM.addPass(ScalarizerPass(Options));
    MPM.addPass(createModuleToFunctionPassAdaptor(std::move(FPM)));
    break;
  }
  }
  return MPM;
}

// The analyses of PassRegistry.def (LLVM 22), in its order, with the same
// constructors. Left out, because only passes BareFlow never runs ask for them:
//   module-summary      ThinLTO's bitcode writer
//   ir-similarity       the IR outliner
//   stack-safety(-local) the sanitizers (and module-summary)
//   da, ddg             loop fusion, interchange, unroll-and-jam
//   regions             StructurizeCFG (GPU targets), control-height reduction
//   ir2vec-vocab        the ML inliner's embeddings (a cached lookup elsewhere)
//   dxil-*              the DirectX back end
//   objc-arc-aa         Objective-C ARC
//   no-op-*             pipeline tests
//   loop-accesses       the loop vectorizer, loop distribution, loop-load-elim
//   should-run-extra-vector-passes  the loop vectorizer
//   bb-sections-profile-reader  the new pass manager's CodeGenPrepare (the kernel's
//                       code generator is the legacy pipeline, whose CodeGenPrepare
//                       finds none either: basic block sections are not built in)
// `aa` is PassBuilder's default alias-analysis stack, as registerFunctionAnalyses
// registers it.
// PassBuilder::buildDefaultAAPipeline (-enable-global-analyses at its default, on).
AAManager defaultAAPipeline(TargetMachine *TM) {
  AAManager AA;
  if (TM)
    TM->registerEarlyDefaultAliasAnalyses(AA);
  AA.registerFunctionAnalysis<BasicAA>();
  AA.registerFunctionAnalysis<ScopedNoAliasAA>();
  AA.registerFunctionAnalysis<TypeBasedAA>();
  AA.registerModuleAnalysis<GlobalsAA>();
  if (TM)
    TM->registerDefaultAliasAnalyses(AA);
  return AA;
}

// PassBuilder::crossRegisterProxies (without machine-function analyses).
void crossRegisterProxies(LoopAnalysisManager &LAM,
                          FunctionAnalysisManager &FAM,
                          CGSCCAnalysisManager &CGAM,
                          ModuleAnalysisManager &MAM) {
  MAM.registerPass([&] { return FunctionAnalysisManagerModuleProxy(FAM); });
  MAM.registerPass([&] { return CGSCCAnalysisManagerModuleProxy(CGAM); });
  CGAM.registerPass([&] { return ModuleAnalysisManagerCGSCCProxy(MAM); });
  FAM.registerPass([&] { return CGSCCAnalysisManagerFunctionProxy(CGAM); });
  FAM.registerPass([&] { return ModuleAnalysisManagerFunctionProxy(MAM); });
  FAM.registerPass([&] { return LoopAnalysisManagerFunctionProxy(LAM); });
  LAM.registerPass([&] { return FunctionAnalysisManagerLoopProxy(FAM); });
}

void registerAnalyses(TargetMachine *TM,
                      LoopAnalysisManager &LAM, FunctionAnalysisManager &FAM,
                      CGSCCAnalysisManager &CGAM, ModuleAnalysisManager &MAM) {
  MAM.registerPass([&] { return CallGraphAnalysis(); });
  MAM.registerPass([&] { return CollectorMetadataAnalysis(); });
  MAM.registerPass([&] { return CtxProfAnalysis(); });
  MAM.registerPass([&] { return InlineAdvisorAnalysis(); });
  MAM.registerPass([&] { return LastRunTrackingAnalysis(); });
  MAM.registerPass([&] { return LazyCallGraphAnalysis(); });
  MAM.registerPass([&] { return LibcallLoweringModuleAnalysis(); });
  MAM.registerPass([&] { return PassInstrumentationAnalysis(); });
  MAM.registerPass([&] { return ProfileSummaryAnalysis(); });
  MAM.registerPass([&] { return PhysicalRegisterUsageAnalysis(); });
  MAM.registerPass([&] { return RuntimeLibraryAnalysis(); });
  MAM.registerPass([&] { return VerifierAnalysis(); });
  MAM.registerPass([&] { return GlobalsAA(); });

  CGAM.registerPass([&] { return FunctionAnalysisManagerCGSCCProxy(); });
  CGAM.registerPass([&] { return PassInstrumentationAnalysis(); });

  FAM.registerPass([&] { return defaultAAPipeline(TM); });
  FAM.registerPass([&] { return AssumptionAnalysis(); });
  FAM.registerPass([&] { return BlockFrequencyAnalysis(); });
  FAM.registerPass([&] { return BranchProbabilityAnalysis(); });
  FAM.registerPass([&] { return CycleAnalysis(); });
  FAM.registerPass([&] { return DebugAssignmentTrackingAnalysis(); });
  FAM.registerPass([&] { return DemandedBitsAnalysis(); });
  FAM.registerPass([&] { return DominanceFrontierAnalysis(); });
  FAM.registerPass([&] { return DominatorTreeAnalysis(); });
  FAM.registerPass([&] { return EphemeralValuesAnalysis(); });
  FAM.registerPass([&] { return FunctionPropertiesAnalysis(); });
  if (TM)
    FAM.registerPass([&] { return MachineFunctionAnalysis(*TM); });
  FAM.registerPass([&] { return GCFunctionAnalysis(); });
  FAM.registerPass([&] { return LastRunTrackingAnalysis(); });
  FAM.registerPass([&] { return LazyValueAnalysis(); });
  FAM.registerPass([&] { return LoopAnalysis(); });
  FAM.registerPass([&] { return MemoryDependenceAnalysis(); });
  FAM.registerPass([&] { return MemorySSAAnalysis(); });
  FAM.registerPass([&] { return OptimizationRemarkEmitterAnalysis(); });
  FAM.registerPass([&] { return PassInstrumentationAnalysis(); });
  FAM.registerPass([&] { return PhiValuesAnalysis(); });
  FAM.registerPass([&] { return PostDominatorTreeAnalysis(); });
  FAM.registerPass([&] { return ScalarEvolutionAnalysis(); });
  FAM.registerPass([&] { return ShouldNotRunFunctionPassesAnalysis(); });
  FAM.registerPass([&] { return SSPLayoutAnalysis(); });
  FAM.registerPass(
      [&] { return TM ? TM->getTargetIRAnalysis() : TargetIRAnalysis(); });
  FAM.registerPass([&] { return TargetLibraryAnalysis(); });
  FAM.registerPass([&] { return UniformityInfoAnalysis(); });
  FAM.registerPass([&] { return VerifierAnalysis(); });
  FAM.registerPass([&] { return BasicAA(); });
  FAM.registerPass([&] { return SCEVAA(); });
  FAM.registerPass([&] { return ScopedNoAliasAA(); });
  FAM.registerPass([&] { return TypeBasedAA(); });

  LAM.registerPass([&] { return IVUsersAnalysis(); });
  LAM.registerPass([&] { return PassInstrumentationAnalysis(); });
  LAM.registerPass([&] { return ShouldRunExtraSimpleLoopUnswitch(); });
}

} // namespace

// Runs pipeline `Which` (a `BfPipeline`) over `M`, for `T`'s CPU when `T` is not null
// (its cost model; without one, LLVM's target-independent one). Returns 0, or 1 if
// `Which` is not a pipeline.
extern "C" int bf_run_pipeline(LLVMModuleRef M, LLVMTargetMachineRef T,
                               unsigned Which) {
  if (Which > BF_PIPELINE_SCALARIZE)
    return 1;
  TargetMachine *TM = reinterpret_cast<TargetMachine *>(T);
  Tuning PTO;
  LoopAnalysisManager LAM;
  FunctionAnalysisManager FAM;
  CGSCCAnalysisManager CGAM;
  ModuleAnalysisManager MAM;
  registerAnalyses(TM, LAM, FAM, CGAM, MAM);
  crossRegisterProxies(LAM, FAM, CGAM, MAM);
  ModulePassManager MPM = build(Which, PTO);
  MPM.run(*unwrap(M), MAM);
  return 0;
}
