import { Button, CloseButton, Dialog, Portal } from "@chakra-ui/react";

import { ErrorAlert, Loading } from "./common.jsx";

// A Chakra dialog that is open while mounted; closing asks the parent to unmount it.
export const Modal = ({ title, onClose, children, footer, size = "lg", testId, bodyProps, contentProps, ...rest }) => (
  <Dialog.Root
    lazyMount
    onOpenChange={(event) => {
      if (!event.open) onClose();
    }}
    open
    scrollBehavior="inside"
    size={size}
    {...rest}
  >
    <Portal>
      <Dialog.Backdrop />
      <Dialog.Positioner>
        <Dialog.Content data-testid={testId} {...contentProps}>
          <Dialog.Header>
            <Dialog.Title>{title}</Dialog.Title>
          </Dialog.Header>
          <Dialog.Body {...bodyProps}>{children}</Dialog.Body>
          {footer && <Dialog.Footer>{footer}</Dialog.Footer>}
          <Dialog.CloseTrigger asChild>
            <CloseButton aria-label="Close" size="sm" />
          </Dialog.CloseTrigger>
        </Dialog.Content>
      </Dialog.Positioner>
    </Portal>
  </Dialog.Root>
);

// Cancel beside the `confirm` button while there is something to confirm, else Close.
export const ConfirmFooter = ({ confirm, onClose }) =>
  confirm ? (
    <>
      <Button onClick={onClose} variant="outline">
        Cancel
      </Button>
      {confirm}
    </>
  ) : (
    <Button onClick={onClose} variant="outline">
      Close
    </Button>
  );

// A dialog that first loads what it shows: a spinner while `loading`, then `error` under
// `errorTitle`, then its children. Once a run has started, its `progress` takes the body and the
// footer only closes. `footer={null}` leaves the footer out.
export const LoadingModal = ({ loading, error, errorTitle, progress, confirm, onClose, children, ...rest }) => (
  <Modal footer={<ConfirmFooter confirm={progress ? null : confirm} onClose={onClose} />} onClose={onClose} {...rest}>
    {progress || (loading ? <Loading /> : error ? <ErrorAlert error={error} title={errorTitle} /> : children)}
  </Modal>
);
