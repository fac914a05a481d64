"""Image-generation providers behind one interface."""
