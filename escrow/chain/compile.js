#!/usr/bin/env node
// Compile the escrow contracts with the pinned npm `solc` and write committed artefacts.
//
//   node escrow/chain/compile.js          (run from the repository root; `make contracts`)
//
// Each artefact holds the ABI, bytecode, compiler settings and the SHA-256 of every project
// source it was built from, so Python can tell stale artefacts apart without node.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..", "..");
const NODE_MODULES = path.join(ROOT, "node_modules");
const SOLC_VERSION = "0.8.37"; // pinned in package.json; checked below
const CONTRACTS_DIR = "escrow/chain/contracts";
const ARTIFACTS_DIR = path.join(ROOT, "escrow", "chain", "artifacts");
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"] } },
};
// Contract name -> source unit, in build order.
const CONTRACTS = {
  MilestoneEscrow: `${CONTRACTS_DIR}/MilestoneEscrow.sol`,
  TestToken: `${CONTRACTS_DIR}/test/TestToken.sol`,
  ReentrantAttacker: `${CONTRACTS_DIR}/test/ReentrantAttacker.sol`,
};

const solc = require(path.join(NODE_MODULES, "solc"));

function sha256(text) {
  return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

function readSource(unit) {
  return fs.readFileSync(path.join(ROOT, unit), "utf8");
}

// Imports that are not project files (e.g. "@openzeppelin/...") resolve inside node_modules.
function findImports(unit) {
  const candidates = [path.join(ROOT, unit), path.join(NODE_MODULES, unit)];
  for (const file of candidates) {
    if (file.startsWith(ROOT + path.sep) && fs.existsSync(file)) {
      return { contents: fs.readFileSync(file, "utf8") };
    }
  }
  return { error: `not found: ${unit}` };
}

function main() {
  const version = solc.version();
  if (!version.startsWith(SOLC_VERSION + "+")) {
    throw new Error(`solc ${version} installed, ${SOLC_VERSION} pinned: run npm ci`);
  }
  const ozVersion = require(path.join(NODE_MODULES, "@openzeppelin", "contracts", "package.json")).version;
  const sources = {};
  for (const unit of Object.values(CONTRACTS)) sources[unit] = { content: readSource(unit) };
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length) process.exit(1);

  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  for (const [name, unit] of Object.entries(CONTRACTS)) {
    const compiled = output.contracts[unit][name];
    const metadata = JSON.parse(compiled.metadata);
    const projectUnits = Object.keys(metadata.sources).filter((u) => u.startsWith(CONTRACTS_DIR + "/")).sort();
    const sourceHashes = {};
    for (const u of projectUnits) sourceHashes[u] = sha256(readSource(u));
    const artifact = {
      contractName: name,
      sourceUnit: unit,
      sources: sourceHashes,
      compiler: { solc: version, openzeppelin: ozVersion, settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
      abi: compiled.abi,
      bytecode: "0x" + compiled.evm.bytecode.object,
      deployedBytecode: "0x" + compiled.evm.deployedBytecode.object,
    };
    const file = path.join(ARTIFACTS_DIR, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(artifact, null, 2) + "\n");
    console.log(`wrote ${path.relative(ROOT, file)} (${(compiled.evm.deployedBytecode.object.length / 2) | 0} bytes runtime)`);
  }
}

main();
