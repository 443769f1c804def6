#!/usr/bin/env node
// Compile contracts/RealDIDAnchor.sol with solc-js and write the committed artifact
// src/realdid/ledger/contracts/RealDIDAnchor.json, which the Python `evm` ledger loads.
//
//   node scripts/build_contracts.mjs                 # rewrite the committed artifact
//   node scripts/build_contracts.mjs --out FILE.json # write elsewhere (the staleness test)
//
// The output is deterministic: the compiler version is pinned in package-lock.json, the
// settings below are fixed, object keys are sorted, indentation is two spaces and the file
// ends with a newline. The bytecode embeds solc's metadata hash, which covers the source
// text (comments included), so any edit of the contract makes the committed artifact stale.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import solc from 'solc'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CONTRACT = 'RealDIDAnchor'
const SOURCE_PATH = `contracts/${CONTRACT}.sol`
const DEFAULT_OUT = join(ROOT, 'src', 'realdid', 'ledger', 'contracts', `${CONTRACT}.json`)

// Settings that determine the bytecode. `cancun` runs on every current EVM chain and on
// anvil's default hardfork; Besu (QBFT) supports it from 24.x.
const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 }
}

function parseArgs (argv) {
  let out = DEFAULT_OUT
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) {
      out = resolve(argv[++i])
    } else {
      console.error(`usage: node scripts/build_contracts.mjs [--out FILE]\nunknown argument: ${argv[i]}`)
      process.exit(2)
    }
  }
  return { out }
}

// JSON.stringify with object keys sorted at every level (arrays keep their order).
function sortKeys (value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]))
  }
  return value
}

function main () {
  const { out } = parseArgs(process.argv.slice(2))
  const input = {
    language: 'Solidity',
    sources: { [SOURCE_PATH]: { content: readFileSync(join(ROOT, SOURCE_PATH), 'utf8') } },
    settings: {
      ...SETTINGS,
      outputSelection: { [SOURCE_PATH]: { [CONTRACT]: ['abi', 'evm.bytecode.object'] } }
    }
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  let failed = false
  for (const diagnostic of output.errors ?? []) {
    console.error(diagnostic.formattedMessage ?? diagnostic.message)
    if (diagnostic.severity === 'error') failed = true
  }
  if (failed) process.exit(1)

  const compiled = output.contracts?.[SOURCE_PATH]?.[CONTRACT]
  if (!compiled || !compiled.evm?.bytecode?.object) {
    console.error(`solc produced no bytecode for ${CONTRACT}`)
    process.exit(1)
  }
  const artifact = sortKeys({
    contractName: CONTRACT,
    compiler: { version: solc.version(), settings: SETTINGS },
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`
  })
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify(artifact, null, 2) + '\n')
  console.log(`wrote ${relative(process.cwd(), out) || out} (solc ${solc.version()})`)
}

main()
