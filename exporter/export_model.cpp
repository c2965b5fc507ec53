#include "exporter/export_model.h"
