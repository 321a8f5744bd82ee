/** A device's model history: each rollout it took part in, newest first, and how it went there. */
import type { DeviceDeployment } from '../api/endpoints.js';
import { href } from '../router.js';
import { Empty, StateBadge, Time } from './ui.js';

export function ModelHistory({ deployments }: { deployments: readonly DeviceDeployment[] }) {
  if (deployments.length === 0) return <Empty>No rollout has reached this device yet.</Empty>;
  return (
    <table class="table" data-testid="model-history">
      <caption>Rollouts this device took part in, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">Variant</th>
          <th scope="col">Before</th>
          <th scope="col">Rollout</th>
          <th scope="col" class="num">
            Wave
          </th>
          <th scope="col">On this device</th>
          <th scope="col">Finished</th>
        </tr>
      </thead>
      <tbody>
        {deployments.map((d) => (
          <tr key={d.rolloutId}>
            <td>
              <Time at={d.startedAt} />
            </td>
            <td>
              <code>{d.variantId}</code>
            </td>
            <td>
              <code>{d.previousVariantId ?? '–'}</code>
            </td>
            <td>
              <a href={href.rollout(d.rolloutId)}>{d.rolloutId}</a> <StateBadge state={d.rolloutState} />
            </td>
            <td class="num">{d.wave + 1}</td>
            <td>
              <StateBadge state={d.state} />
              {d.failure ? (
                <span class="failure">
                  {' '}
                  {d.failure.step}: {d.failure.reason}
                </span>
              ) : null}
            </td>
            <td>
              <Time at={d.finishedAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
