/**
 * oo-ml as a library (`import { … } from 'oo-ml'`): the calls the CLI and the server are shells
 * over, for a program or a test that runs them directly.
 *
 * Jobs take their paths, registry and clock as arguments: `loadConfig(home)` gives a home's
 * paths (`config.paths`) and settings as the CLI reads them, and `openStore(config)` its MLflow
 * registry (the file store under the home, or the server MLFLOW_TRACKING_URI names). Policies,
 * estimators, feature vectors and the promotion gate are pure: no I/O, and their random
 * generator (`createRng(seed)`) is an argument. Every failure is an `OoMlError` with a stable
 * `code`. What is not exported here is internal and may change without notice: the package's
 * `exports` keeps `oo-ml/dist/…` out of reach.
 */

// Configuration, errors, version
export { loadConfig, homePaths, type Config, type HomePaths } from './config.js';
export { OoMlError, isOoMlError, EXIT_CODE, HTTP_STATUS, type ErrorCode, type ErrorExtras } from './errors.js';
export { OO_ML_VERSION } from './version.js';

// The event log: synthetic, imported, ingested from the bus
export { synthesize, DEFAULT_SYNTH_START, type SynthJob } from './pipelines/synth.js';
export { importEvents, type ImportJob, type ImportSummary } from './pipelines/event-import.js';
export { ingestEvents, type IngestJob, type IngestSummary } from './pipelines/ingest.js';
// The jobs' argument ranges (the CLI's flags take the same) and ingest's defaults.
export { IMPORT_RANGES, INGEST_DEFAULTS, INGEST_RANGES, SEED_RANGE, SIM_RANGES, SYNTH_RANGES, type IntRange } from './pipelines/job-arguments.js';
export { listDeadLetters } from './pipelines/dead-letters.js';
export { createEventBus, type EventBus, type EventBusOptions } from './events/event-bus.js';
export type { EventType, OoEvent } from './events/schemas.js';
export type { Channel } from './events/subjects.js';
export type { TransportKind } from './events/transport.js';
export type { DeadLetterReason } from './events/dead-letter.js';

// Features: warehouse, training set, serving snapshot, vectors
export { buildFeatures, type FeatureBuildJob, type FeatureBuildSummary } from './pipelines/feature-build.js';
export { buildTrainingSet, loadTrainingSet, trainingVectors, type TrainingSetJob, type TrainingSetSummary, type TrainingData } from './pipelines/training-set.js';
export { exportSnapshot, loadSnapshot, type ExportJob, type ExportSummary, type LoadedSnapshot } from './pipelines/snapshot-files.js';
export { toVector, vectorDim, vectorNames, VECTOR_LAYOUTS, type VectorInput, type VectorLayoutName } from './features/vectors.js';
export { contractHash, contractSignatures, type FeatureSignature } from './features/contract.js';
export type { ProfileValues } from './features/registry.js';
// The arms: an arm's index (in training data, logs and target matrices) is its place in ARM_IDS.
export { ARM_COUNT, ARM_IDS, armIndex, isArmId, type ArmId } from './features/arms.js';

// Policies (pure) and their random generator
export { POLICIES, POLICY_NAMES, POLICY_PARAMS, getPolicy, isPolicyName, restorePolicyState, type PolicyName } from './policies/catalog.js';
export type { Policy, Decision, SerializedPolicyState } from './policies/policy.js';
export { DEFAULT_EXPLORATION_FLOOR, withExplorationFloor } from './policies/exploration-floor.js';
export { createRng, deriveSeed, type Rng } from './random/rng.js';

// Off-policy evaluation (pure) and the jobs that train, evaluate and simulate
// `runOpe` and `trainPolicy` cross-fit the reward model over DEFAULT_FOLDS folds; `evaluate` fits it on the rows it evaluates unless told `folds`.
export { evaluate, DEFAULT_ESTIMATORS, DEFAULT_FOLDS, type EvaluateOptions, type OpeReport, type RewardModelInfo } from './evaluation/evaluate.js';
export { ESTIMATOR_NAMES, isEstimatorName, type Estimate, type EstimatorName, type IntervalMethod, type WeightDiagnostics } from './evaluation/estimate.js';
export { fitRidgeRewardModel, type RidgeOptions, type RidgeRewardModel } from './evaluation/reward-model.js';
export { checkLogs, type LoggedBandit, type LogsSummary } from './evaluation/logged-bandit.js';
export { deterministicTarget, policyTarget, uniformTarget } from './evaluation/target-policy.js';
export { trainPolicy, holdoutStart, DEFAULT_MODEL, HOLDOUT_SHARE, type TrainJob, type TrainOutcome } from './pipelines/train.js';
// A version's evaluation as train records it (each metric a value and its [low, high] interval).
export type { VersionEvaluation, Estimate as MetricEstimate, SegmentCheck } from './models/model-card.js';
export { runOpe, type OpeJob, type OpeOutcome } from './pipelines/ope.js';
export { runSimulation, type SimulationJob, type SimulationOutcome } from './pipelines/simulation.js';
export type { SimOptions } from './sim/scenario.js';
export type { SimResults } from './sim/summary.js';
export type { ReplicationListener } from './sim/parallel.js';
export { PERSONAS, PERSONA_NAMES, type Persona } from './sim/personas.js';

// The registry (MLflow's layout and REST API) and promotion
export { openStore, createStore, type CreateStoreOptions } from './registry/create-store.js';
export type { Store, ModelVersion, RegisteredModel, Run } from './registry/store.js';
export { listModels, type ListedModel, type ListedVersion } from './models/model-listing.js';
// A registered version as it serves: its state, run and exploration floor, and the policy deciding with that floor.
export { loadRegisteredPolicy, servedPolicy, type RegisteredPolicy } from './models/policy-artifacts.js';
export { evaluateGate, GATE_RULES, type GateCheck, type GateCheckId, type GateDecision, type GateEvidence, type GateQuestion, type GateRules, type Interval } from './experiments/gate.js';
export { parseExperimentsConfig, type ExperimentsConfig } from './experiments/assignment.js';
export { promotionContext } from './experiments/evidence.js';
export { ALIASES, promoteVersion, rollbackChampion, type PromoteContext, type PromoteRequest, type PromoteResult, type RollbackResult } from './experiments/promotion.js';

// Prompts
export { PROMPT_VERSIONS, renderPrompt, type RenderedPrompt } from './prompts/prompt-registry.js';
export { analyzePrompts, type PromptAnalytics, type PromptAnalyticsJob } from './pipelines/prompt-analytics.js';
export { createTipWriter, tipWriterSettingsFromEnv, type TipWriter, type TipWriterSettings } from './prompts/tip-writer.js';

// Serving: `serveWiring` wires a home as `oo-ml serve` does, `startServer` listens
export { serveWiring, closeServeWiring, type ServeWiring, type ServeWiringOptions, type WiringContext } from './server/wiring.js';
export { startServer, type RunningServer, type StartOptions } from './server/main.js';
export { buildApp, type BuildOptions, type OoMlApp } from './server/app.js';
// What buildApp and startServer take, for a program that wires its own (serveWiring wires a home's).
export type { ExperimentsProvider, LoadedPolicies, LoadedPolicy, PolicyProblem, PolicyProvider, ServerDeps, ServerLimits, SnapshotProvider } from './server/deps.js';
export type { LoggerSetting } from './server/logger.js';
export { createRegistryPolicyProvider } from './server/registry-policies.js';
export { experimentsFile, fixedExperiments, readExperiments } from './server/experiments-source.js';
