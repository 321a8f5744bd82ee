/**
 * The one rule of issue 21 for where an admin command goes (cli/src/fleet-connection.ts):
 * `--api` or EDGEFLEET_API means the API, `--data-dir` or EDGEFLEET_DATA_DIR the data directory,
 * both (in any mix of flags and variables) a usage error naming what was used.
 */
import t from 'tap';
import { chooseTarget } from '@edgefleet/cli/fleet-connection';

const API = 'http://fleet:8080';

t.test('flags and variables choose alike, and say where the choice came from', async (t) => {
  t.same(chooseTarget({ api: API }, {}), { kind: 'api', url: API, token: undefined, from: '--api' });
  t.same(chooseTarget({}, { EDGEFLEET_API: API, EDGEFLEET_TOKEN: 'efa_x' }), {
    kind: 'api',
    url: API,
    token: 'efa_x',
    from: 'EDGEFLEET_API',
  });
  t.equal(chooseTarget({ token: 'efa_flag' }, { EDGEFLEET_API: API, EDGEFLEET_TOKEN: 'efa_env' }).kind, 'api');
  t.match(chooseTarget({ token: 'efa_flag' }, { EDGEFLEET_API: API, EDGEFLEET_TOKEN: 'efa_env' }), {
    token: 'efa_flag',
  });
  t.same(chooseTarget({ dataDir: 'd' }, {}), { kind: 'data-dir', dataDir: 'd', from: '--data-dir' });
  t.same(chooseTarget({}, { EDGEFLEET_DATA_DIR: 'e' }), { kind: 'data-dir', dataDir: 'e', from: 'EDGEFLEET_DATA_DIR' });
  t.same(chooseTarget({}, {}), { kind: 'data-dir', dataDir: undefined, from: 'default' });
  t.same(chooseTarget({}, { EDGEFLEET_API: '', EDGEFLEET_DATA_DIR: '' }).kind, 'data-dir', 'empty variables are unset');
});

t.test('an API and a data directory together are refused, naming both sources', async (t) => {
  const cases: Array<[Record<string, string>, Record<string, string>, RegExp]> = [
    [{ api: API, dataDir: 'd' }, {}, /--api http:\/\/fleet:8080.*--data-dir d.*drop the --data-dir flag/],
    [{ dataDir: 'd' }, { EDGEFLEET_API: API }, /EDGEFLEET_API http:\/\/fleet:8080.*--data-dir d.*or EDGEFLEET_API/],
    [{ api: API }, { EDGEFLEET_DATA_DIR: 'e' }, /--api .*EDGEFLEET_DATA_DIR e.*drop EDGEFLEET_DATA_DIR/],
    [{}, { EDGEFLEET_API: API, EDGEFLEET_DATA_DIR: 'e' }, /EDGEFLEET_API .*EDGEFLEET_DATA_DIR e/],
  ];
  for (const [flags, env, message] of cases)
    t.throws(() => chooseTarget(flags, env), { code: 'EF_ERR_CLI_USAGE', message }, JSON.stringify({ flags, env }));
});
