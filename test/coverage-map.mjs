// tap coverage map: which source files each test file may count coverage for.
// [] means "no restriction". null means "this test contributes no coverage": the tests
// below run the CLI as a real process through tsx (for signals and exit codes). tsx
// minifies whitespace, and tap's process-info hook collects that child's V8 coverage too;
// merged with the in-process tests' coverage of the same files, it garbled the report
// (one such test halved the measured coverage of modules it merely loads). What these
// children run is covered by in-process tests.
const SUBPROCESS_TESTS = [
  'test/integration/server-command.test.ts',
  'test/integration/farm-cli.test.ts',
  'test/integration/agent-process.test.ts',
  'test/integration/demo-command.test.ts',
  'test/integration/distill-stop.test.ts',
];

export default function coverageMap(testFile) {
  const normalized = testFile.replaceAll('\\', '/');
  return SUBPROCESS_TESTS.some((t) => normalized.endsWith(t)) ? null : [];
}
