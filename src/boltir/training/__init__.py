"""Lightning modules, data modules and callbacks for fine-tuning."""
