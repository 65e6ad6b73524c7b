// One model (`/plugin/models/<name>`): versions and metrics, plots, deployments, scoring runs with
// their drift, associations, expectations and the event history. Each section is its own module
// in this folder; this one loads the model and lays them out.
import { Button, Stack } from "@chakra-ui/react";
import { useState } from "react";

import { ActionDialog } from "../Actions.jsx";
import { AssociationList } from "../Associations.jsx";
import { ChallengeSection } from "../ChallengeSection.jsx";
import { useApi, useWhoami } from "../api.js";
import { ErrorAlert, Loading, Section } from "../common.jsx";
import { LinkIcon } from "../icons.jsx";
import { MonitoringSection } from "../Monitoring.jsx";
import { AliasForm } from "./AliasForm.jsx";
import { DeploymentsTable } from "./DeploymentsTable.jsx";
import { EventsTable } from "./EventsTable.jsx";
import { Expectations } from "./Expectations.jsx";
import { BackLink, ModelFacts, ModelHeader } from "./ModelHeader.jsx";
import { Plots } from "./Plots.jsx";
import { ScoringRuns } from "./ScoringRuns.jsx";
import { Empty } from "./tables.jsx";
import { VersionsTable } from "./VersionsTable.jsx";

export const ModelDetail = ({ name }) => {
  const whoami = useWhoami();
  const canChange = Boolean(whoami?.can_change);
  const detail = useApi(["models", name]);
  const [action, setAction] = useState(null);

  if (detail.loading && !detail.data) {
    return (
      <Stack data-testid="model-detail" gap={4}>
        <BackLink />
        <Loading label={`Loading ${name}…`} />
      </Stack>
    );
  }
  if (!detail.data) {
    return (
      <Stack data-testid="model-detail" gap={4}>
        <BackLink />
        <ErrorAlert error={detail.error} title={detail.error?.status === 404 ? `No model named ${name}` : `Cannot load ${name}`} />
      </Stack>
    );
  }
  const { model, versions = [], events = [], deployments = [], expectations = [] } = detail.data;
  const runs = detail.data.scoring_runs ?? [];
  const associations = detail.data.associations ?? model.associations ?? [];

  return (
    <Stack data-model={model.name} data-testid="model-detail" gap={5}>
      <BackLink />
      <ModelHeader canChange={canChange} model={model} onAction={(kind, m) => setAction({ kind, model: m })} />
      {detail.error && <ErrorAlert error={detail.error} title="Cannot refresh" />}

      <ModelFacts model={model} />

      {canChange && (
        <Section testId="aliases-section" title="Set, move or remove an alias">
          <AliasForm aliases={model.aliases} modelName={model.name} onChanged={detail.reload} versions={versions} />
        </Section>
      )}

      <Section testId="versions-section" title="Versions and metrics">
        <VersionsTable versions={versions} />
      </Section>

      <Section testId="plots-section" title="Evaluation plots">
        {versions.length ? <Plots modelName={model.name} versions={versions} /> : <Empty>No versions.</Empty>}
      </Section>

      <Section testId="deployments-section" title="Deployments">
        <DeploymentsTable deployments={deployments} />
      </Section>

      <MonitoringSection canChange={canChange} modelName={model.name} />

      <ChallengeSection canChange={canChange} model={model} onChanged={detail.reload} />

      <Section testId="scoring-section" title="Scoring runs">
        <ScoringRuns runs={runs} />
      </Section>

      <Section
        actions={
          canChange && (
            <Button onClick={() => setAction({ kind: "associate", model })} size="xs" variant="outline">
              <LinkIcon />
              Associate Scoring Workflow
            </Button>
          )
        }
        testId="associations-section"
        title="Scoring workflows"
      >
        <AssociationList associations={associations} canChange={canChange} onChanged={detail.reload} />
      </Section>

      <Section testId="expectations-section" title="Expectations">
        <Expectations canChange={canChange} expectations={expectations} modelName={model.name} onChanged={detail.reload} />
      </Section>

      <Section testId="events-section" title="History">
        <EventsTable events={events} />
      </Section>

      <ActionDialog action={action} canChange={canChange} onChanged={detail.reload} onClose={() => setAction(null)} />
    </Stack>
  );
};
