// Every deployment of the model, the serving one and those it replaced.
import { HStack, Stack, Table, Text } from "@chakra-ui/react";

import { HealthDot, Muted, StateBadge, Time } from "../common.jsx";
import { ColumnHeaders, Empty, ScrollTable } from "./tables.jsx";

// The endpoint (the model's gateway) is what a client calls; each replica's own port is detail.
export const DeploymentsTable = ({ deployments }) =>
  deployments.length ? (
    <ScrollTable testId="deployments-table">
      <ColumnHeaders cells={["#", "Version", "Status", "Endpoint", "Port", "Replicas", "Runtime", "Bento", "By", "Created", "Updated", "Reason"]} />
      <Table.Body>
        {deployments.map((d) => (
          <Table.Row data-testid="deployment-row" key={d.id}>
            <Table.Cell>{d.id}</Table.Cell>
            <Table.Cell>v{d.model_version}</Table.Cell>
            <Table.Cell>
              <HStack gap={1.5}>
                <StateBadge deployment state={d.status} />
                {d.status === "running" && <HealthDot healthy={d.healthy} />}
              </HStack>
            </Table.Cell>
            <Table.Cell data-testid="deployment-endpoint" fontFamily="mono" fontSize="xs">
              {d.url ?? "—"}
            </Table.Cell>
            <Table.Cell data-testid="deployment-port" title="The endpoint's port: what clients call">
              {d.endpoint_port ?? "—"}
            </Table.Cell>
            <Table.Cell data-testid="deployment-replica-ports" fontSize="xs">
              <ReplicaPorts deployment={d} />
            </Table.Cell>
            <Table.Cell data-testid="deployment-runtime" fontSize="xs">
              <RuntimeCell runtime={d.runtime} />
            </Table.Cell>
            <Table.Cell data-testid="deployment-bento" fontFamily="mono" fontSize="xs" title={d.bento_error ?? undefined}
              color={d.bento_state === "failed" ? "fg.error" : undefined}>
              <BentoCell deployment={d} />
            </Table.Cell>
            <Table.Cell>{d.created_by ?? "—"}</Table.Cell>
            <Table.Cell>
              <Time fontSize="xs" iso={d.created_at} />
            </Table.Cell>
            <Table.Cell>
              <Time fontSize="xs" iso={d.updated_at} />
            </Table.Cell>
            <Table.Cell color={d.status === "failed" ? "fg.error" : "fg.muted"} fontSize="xs" maxW="20rem">
              {d.status_reason ?? ""}
            </Table.Cell>
          </Table.Row>
        ))}
      </Table.Body>
    </ScrollTable>
  ) : (
    <Empty testId="deployments-empty">This model has never been deployed.</Empty>
  );

// "2 · internal ports 36111, 36112": how many servers stand behind the endpoint, and where.
const ReplicaPorts = ({ deployment }) => {
  const replicas = deployment.replicas ?? [];
  if (!replicas.length) return <Muted>—</Muted>;
  return (
    <Stack gap={0}>
      <Text>{replicas.length}</Text>
      <Muted title="Each replica's own server, behind the endpoint" whiteSpace="nowrap">
        internal {replicas.length === 1 ? "port" : "ports"} {replicas.map((r) => r.port).join(", ")}
      </Muted>
    </Stack>
  );
};

// "onnxruntime · 27x faster": what answers, how much faster than the model's own library; the
// parity figures (labels identical, largest difference) are in the title.
const RuntimeCell = ({ runtime }) => {
  if (!runtime) return <Muted>—</Muted>;
  const compiled = runtime.runtime !== "native";
  return (
    <Stack gap={0} title={runtime.summary}>
      <Text fontFamily="mono">{runtime.runtime}</Text>
      <Muted whiteSpace="nowrap">
        {compiled ? `one row ${runtime.one_row_speedup.toFixed(1)}x faster, at parity` : nativeWhy(runtime)}
      </Muted>
    </Stack>
  );
};

const nativeWhy = (runtime) =>
  runtime.requested === "native" ? "asked for" : runtime.candidates.length ? "no faster one at parity" : "no compiled runtime";

// A version swapped into warm servers answers before its bento is built: "building…" until the
// background build records the tag; "build failed" with the reason in the title (a restart builds again).
const BentoCell = ({ deployment }) => {
  if (deployment.bento_state === "building") return <Muted>building…</Muted>;
  if (deployment.bento_state === "failed") return <Text>build failed</Text>;
  return deployment.bento_tag ?? <Muted>—</Muted>;
};
