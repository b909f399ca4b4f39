// Summarises a run of http-tests/cache-tests: counts of passed tests by kind (required, optimal,
// check), then one line per test not passed, with its kind, result and the suite's message.
// Tests the run did not include (browser-only ones) are left out; a test whose dependency
// failed counts as not passed, as in the suite's own report.
//
//   node scripts/cachetests-summary.mjs <cache-tests checkout> <results.json>
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [dir, file] = process.argv.slice(2)
if (!dir || !file) {
  console.error('usage: node scripts/cachetests-summary.mjs <cache-tests checkout> <results.json>')
  process.exit(2)
}
const load = p => import(pathToFileURL(path.resolve(dir, p)).href)
const tests = (await load('tests/index.mjs')).default
const { determineTestResult, resultTypes } = await load('test-engine/lib/results.mjs')
const results = JSON.parse(fs.readFileSync(file, 'utf8'))
const count = {}
const notPassed = []
for (const suite of tests) {
  for (const t of suite.tests) {
    if (results[t.id] === undefined) continue
    const kind = t.kind || 'required'
    const r = determineTestResult(tests, t.id, results)
    count[kind] ??= [0, 0]
    count[kind][1]++
    if (r === resultTypes.pass || r === resultTypes.yes) count[kind][0]++
    else notPassed.push(`${kind}\t${t.id}\t${r[2]}\t${JSON.stringify(results[t.id])}`)
  }
}
for (const k of ['required', 'optimal', 'check']) if (count[k]) console.log(`${k}: ${count[k][0]}/${count[k][1]}`)
for (const line of notPassed) console.log(line)
