"""Read what the `inception` controller writes, from Python.

    import inception.record, inception.model, inception.export

- inception.record: session records (controller/record/RECORD.md): records, the trial table, stimuli,
  and the training arrays of a session (numpy only).
- inception.model: model.bin (docs/model-file.md) as a torch.nn.Module and back (torch).
- inception.export: an `inception export` folder in one call (numpy only).

numpy is the only dependency; torch is needed by inception.model's Module alone.
"""
__version__ = "0.1.0"
