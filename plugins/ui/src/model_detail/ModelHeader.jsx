// The top of one model's page: the way back to the list, the name with its description, aliases
// and Actions menu, and the facts at a glance.
import { Box, Grid, HStack, Heading, Link, Stack, Text } from "@chakra-ui/react";
import { Link as RouterLink } from "react-router-dom";

import { ModelActions } from "../Actions.jsx";
import { AliasBadges, HealthDot, Muted, StateBadge, Time } from "../common.jsx";
import { formatMetric } from "../format.js";
import { ArrowLeftIcon } from "../icons.jsx";

export const BackLink = () => (
  <Link asChild color="fg.info" fontSize="sm">
    <RouterLink data-testid="back-to-models" to="/plugin/models">
      <ArrowLeftIcon />
      All Models
    </RouterLink>
  </Link>
);

export const ModelHeader = ({ model, canChange, onAction }) => (
  <HStack alignItems="flex-start" justifyContent="space-between">
    <Stack gap={2} minW={0}>
      <Heading as="h1" size="lg" wordBreak="break-all">
        {model.name}
      </Heading>
      {model.description ? (
        <Text color="fg.muted" data-testid="model-description">
          {model.description}
        </Text>
      ) : null}
      <AliasBadges aliases={model.aliases} emptyText="No aliases yet." />
    </Stack>
    <HStack gap={2}>
      <ModelActions
        canChange={canChange}
        model={model}
        onDetails={() => document.querySelector('[data-testid="modelyard"]')?.scrollTo({ top: 0, behavior: "smooth" })}
        onAction={onAction}
        variant="outline"
      />
    </HStack>
  </HStack>
);

const Fact = ({ label, children }) => (
  <Stack gap={0}>
    <Text color="fg.muted" fontSize="xs">
      {label}
    </Text>
    <Box fontSize="sm">{children}</Box>
  </Stack>
);

export const ModelFacts = ({ model }) => {
  const deployment = model.deployment;
  return (
    <Grid gap={4} templateColumns="repeat(auto-fit, minmax(150px, 1fr))">
      <Fact label="Latest version">
        v{model.latest_version} <Muted>({model.versions} in all)</Muted>
      </Fact>
      <Fact label="Flavor / task">{[model.flavor, model.task].filter(Boolean).join(" · ") || "—"}</Fact>
      <Fact label="Origin">{model.origin ?? "—"}</Fact>
      <Fact label={model.key_metric ?? "Key metric"}>{formatMetric(model.key_metric_value) || "—"}</Fact>
      <Fact label="Deployment">
        {deployment ? (
          <HStack gap={1.5}>
            <StateBadge deployment state={deployment.status} />
            {deployment.status === "running" && <HealthDot healthy={deployment.healthy} />}
            <Text>v{deployment.model_version}</Text>
          </HStack>
        ) : (
          <Muted>not deployed</Muted>
        )}
        {deployment?.status === "running" && deployment.url && (
          <Text color="fg.muted" fontFamily="mono" fontSize="xs">
            {deployment.url}
          </Text>
        )}
      </Fact>
      <Fact label="Updated">
        <Time iso={model.updated_at} />
      </Fact>
    </Grid>
  );
};
