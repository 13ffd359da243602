package main

func runConfigCheck(e *env, args []string) error {
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	return cfg.Encode(e.stdout)
}
