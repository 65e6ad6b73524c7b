// The per-model three-dot "Actions" menu, and the dialog each item opens.
import { IconButton, Menu, Portal, Stack, Text } from "@chakra-ui/react";
import { useState } from "react";
import { useNavigate } from "react-router-dom";

import { AssociationDialog } from "./Associations.jsx";
import { ChallengeDialog } from "./ChallengeDialog.jsx";
import { DeployDialog, WorkflowConfirmDialog } from "./DeployDialogs.jsx";
import { DownloadDialog } from "./DownloadDialog.jsx";
import {
  ChallengeIcon,
  DocIcon,
  DownloadIcon,
  InfoIcon,
  KebabIcon,
  LinkIcon,
  RocketIcon,
  StopIcon,
  UndoIcon,
} from "./icons.jsx";
import { ModelDocDialog } from "./ModelDocDialog.jsx";

export const modelPath = (name) => `/plugin/models/${encodeURIComponent(name)}`;

const ITEMS = [
  { value: "deploy", label: "Deploy Model", icon: RocketIcon, changes: true },
  { value: "undeploy", label: "Undeploy", icon: StopIcon, changes: true, needsServing: true },
  { value: "rollback", label: "Rollback", icon: UndoIcon, changes: true, needsServing: true, needsEarlier: true },
  { value: "challenge", label: "Challenge with…", icon: ChallengeIcon, changes: true, needsServing: true, needsNoChallenge: true },
  { value: "download", label: "Download", icon: DownloadIcon, changes: false },
  { value: "associate", label: "Associate Scoring Workflow", icon: LinkIcon, changes: true },
  { value: "modeldoc", label: "ModelDoc", icon: DocIcon, changes: false },
  { value: "details", label: "Details", icon: InfoIcon, changes: false },
];

const Trigger = ({ size, variant, ...rest }) => (
  <IconButton aria-label="Actions" data-testid="model-actions" size={size} title="Actions" variant={variant} {...rest}>
    <KebabIcon />
  </IconButton>
);

// onAction(value, model); "Details" opens the model's page, or calls onDetails when given (on
// that page itself). The menu itself is only built once its button is first used: a page of
// 50 rows then renders without 50 menu state machines.
export const ModelActions = (props) => {
  const [used, setUsed] = useState(false);
  if (!used) {
    return (
      <Trigger
        aria-haspopup="menu"
        onClick={() => setUsed(true)}
        onKeyDown={(event) => {
          if (event.key === "ArrowDown" || event.key === "ArrowUp") {
            event.preventDefault();
            setUsed(true);
          }
        }}
        size={props.size ?? "sm"}
        variant={props.variant ?? "ghost"}
      />
    );
  }
  return <ActionsMenu {...props} />;
};

// Why an item cannot be used now (shown beside it, and as its tooltip), or null.
const unavailable = (model, { needsServing, needsEarlier, needsNoChallenge }) => {
  if (needsServing && model.deployment?.status !== "running") return `${model.name} has no running deployment`;
  if (needsNoChallenge && model.challenge) {
    return `Challenge ${model.challenge.id} (v${model.challenge.challenger_version}) is active: promote or end it first`;
  }
  if (needsEarlier && model.rollback && model.rollback.to_version == null) {
    const reason = model.rollback.reason ?? "nothing to roll back to";
    return reason.charAt(0).toUpperCase() + reason.slice(1);
  }
  return null;
};

const ActionsMenu = ({ model, canChange, onAction, onDetails, size = "sm", variant = "ghost" }) => {
  const navigate = useNavigate();
  const items = ITEMS.filter((item) => canChange || !item.changes);
  const serving = model.deployment?.status === "running"; // Undeploy and Rollback act on a running one
  return (
    <Menu.Root
      defaultOpen
      onSelect={({ value }) => {
        if (value === "details") {
          if (onDetails) onDetails();
          else navigate(modelPath(model.name));
        } else onAction(value, model);
      }}
      positioning={{ placement: "bottom-end" }}
    >
      <Menu.Trigger asChild>
        <Trigger size={size} variant={variant} />
      </Menu.Trigger>
      <Portal>
        <Menu.Positioner>
          <Menu.Content data-testid="model-actions-menu" minW="14rem">
            {items.map(({ value, label, icon: ItemIcon, needsServing, needsEarlier, needsNoChallenge }) => {
              const why = unavailable(model, { needsServing, needsEarlier, needsNoChallenge });
              return (
                <Menu.Item data-reason={why ?? undefined} disabled={Boolean(why)} key={value} title={why ?? undefined} value={value}>
                  <ItemIcon />
                  <Stack gap={0}>
                    <span>{label}</span>
                    {why && needsEarlier && serving && (
                      <Text color="fg.muted" data-testid="rollback-reason" fontSize="xs" maxW="16rem" whiteSpace="normal">
                        {why}
                      </Text>
                    )}
                  </Stack>
                </Menu.Item>
              );
            })}
          </Menu.Content>
        </Menu.Positioner>
      </Portal>
    </Menu.Root>
  );
};

// The open dialog for {kind, model}, or nothing.
export const ActionDialog = ({ action, canChange, onClose, onChanged }) => {
  if (!action) return null;
  const { kind, model } = action;
  const props = { model, canChange, onClose, onChanged };
  switch (kind) {
    case "deploy":
      return canChange ? <DeployDialog {...props} /> : null;
    case "undeploy":
    case "rollback":
      return canChange ? <WorkflowConfirmDialog kind={kind} {...props} /> : null;
    case "download":
      return <DownloadDialog {...props} />;
    case "challenge":
      return canChange ? <ChallengeDialog {...props} /> : null;
    case "associate":
      return canChange ? <AssociationDialog {...props} /> : null;
    case "modeldoc":
      return <ModelDocDialog {...props} />;
    default:
      return null;
  }
};
