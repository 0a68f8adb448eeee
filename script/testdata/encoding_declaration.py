# -*- coding: utf-7 -*-
x = "+AGEAYgBj-"
