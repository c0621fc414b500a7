"""Streams the words of a prompt back, one event per word, upper-cased on request."""

import time


class InferlessPythonModel:
    def initialize(self):
        # Load weights and move them to the device here; this model has none.
        self.requests = 0

    def infer(self, inputs, stream_output_handler):
        self.requests += 1
        pause = min(max(inputs.get("pause_ms", 50), 0), 1000) / 1000
        for word in inputs["prompt"].split():
            if inputs.get("upper", False):
                word = word.upper()
            stream_output_handler.send_streamed_output({"generated_text": word + " "})
            time.sleep(pause)
        stream_output_handler.finalise_streamed_output()

    def finalize(self):
        self.requests = 0
