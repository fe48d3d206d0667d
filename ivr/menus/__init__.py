"""The menus: menus.yaml and prompts/ read and checked (load, yamlfile) into the immutable model
(model, numbers), and kept up to date in each worker (live)."""
